/* Watches against the loopback fixture: streaming across chunks,
 * bookmarks, resume, 410 in both forms, caps, cancellation. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube-private.h"
#include "test_fixture.h"

static const struct kube_resource pods = { "", "v1", "pods", "Pod", true };

struct env {
	char *dir;
	struct fixture f;
	struct kube_client *c;
};

static void env_start(struct env *e, cJSON *script)
{
	e->dir = tmpdir_new();
	fixture_start_script(&e->f, e->dir, script, 0);
	char *kc = kubeconfig_text(e->f.url, NULL, "    token: t\n");
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_from_yaml(kc, strlen(kc), NULL, NULL, &cfg), 0);
	free(kc);
	struct kube_client_options o = { .qps = -1 };
	ck_assert_int_eq(kube_client_new(cfg, &o, &e->c), 0);
	kube_client_set_backoff(e->c, 10, 100);
}

static void env_stop(struct env *e)
{
	kube_client_free(e->c);
	fixture_stop(&e->f);
	tmpdir_free(e->dir);
}

struct events {
	int n;
	enum kube_event_type type[16];
	char name[16][16];
	int stop_at;
};

static int on_event(void *ud, enum kube_event_type t, cJSON *obj)
{
	struct events *ev = ud;
	const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"),
						"name");
	if (ev->n < 16) {
		ev->type[ev->n] = t;
		snprintf(ev->name[ev->n], sizeof(ev->name[0]), "%s",
			 cJSON_IsString(name) ? name->valuestring : "");
	}
	ev->n++;
	cJSON_Delete(obj);
	return ev->stop_at && ev->n >= ev->stop_at ? 42 : 0;
}

#define EV(type, name, rv) \
	"{\"type\":\"" type "\",\"object\":{\"kind\":\"Pod\",\"metadata\":" \
	"{\"name\":\"" name "\",\"resourceVersion\":\"" rv "\"}}}\n"
#define BOOKMARK(rv) \
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":" \
	"{\"resourceVersion\":\"" rv "\"}}}\n"

static cJSON *stream_rule(cJSON *s, const char *const *chunks, int times)
{
	cJSON *r = script_rule(s, "GET", "/api/v1/namespaces/ns1/pods", 200, NULL);
	cJSON *arr = cJSON_AddArrayToObject(r, "chunks");
	for (const char *const *c = chunks; *c; c++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(*c));
	cJSON_AddNumberToObject(r, "chunk_delay_ms", 20);
	if (times)
		cJSON_AddNumberToObject(r, "times", times);
	return r;
}

START_TEST(stream_bookmarks_resume)
{
	/* Events split mid-object across chunks (each chunk is written and
	 * flushed separately, 20 ms apart). */
	static const char all[] = EV("ADDED", "a", "11") EV("MODIFIED", "a", "12")
		BOOKMARK("20") EV("DELETED", "a", "21");
	char c1[40], c2[60], c3[200];
	snprintf(c1, sizeof(c1), "%.30s", all);
	snprintf(c2, sizeof(c2), "%.50s", all + 30);
	snprintf(c3, sizeof(c3), "%.150s", all + 80);
	const char *chunks[] = { c1, c2, c3, all + 230, NULL };
	cJSON *s = script_new();
	stream_rule(s, chunks, 1);
	static const char *const second[] = { EV("ADDED", "b", "30"), NULL };
	stream_rule(s, second, 1);
	struct env e;
	env_start(&e, s);

	struct events ev = { 0 };
	struct kube_watch_options o = { .label_selector = "app=x",
					.resource_version = "10",
					.timeout_seconds = 5, .bookmarks = true };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", &o, on_event, &ev, &w), 0);
	ck_assert_str_eq(kube_watch_resource_version(w), "10");
	ck_assert_int_eq(kube_watch_run(w), 0);
	ck_assert_int_eq(ev.n, 4);
	ck_assert_int_eq(ev.type[0], KUBE_EVENT_ADDED);
	ck_assert_int_eq(ev.type[1], KUBE_EVENT_MODIFIED);
	ck_assert_int_eq(ev.type[2], KUBE_EVENT_BOOKMARK);
	ck_assert_int_eq(ev.type[3], KUBE_EVENT_DELETED);
	ck_assert_str_eq(kube_watch_resource_version(w), "21");

	/* Resume from the last resourceVersion seen. */
	ck_assert_int_eq(kube_watch_run(w), 0);
	ck_assert_int_eq(ev.n, 5);
	ck_assert_str_eq(ev.name[4], "b");
	ck_assert_str_eq(kube_watch_resource_version(w), "30");
	kube_watch_free(w);

	cJSON *reqs = fixture_requests(&e.f);
	cJSON *q = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0), "query");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "watch")->valuestring, "1");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "resourceVersion")->valuestring, "10");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "timeoutSeconds")->valuestring, "5");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "allowWatchBookmarks")->valuestring,
			 "true");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "labelSelector")->valuestring, "app=x");
	q = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 1), "query");
	ck_assert_str_eq(cJSON_GetObjectItem(q, "resourceVersion")->valuestring, "21");
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

START_TEST(gone_http_410)
{
	cJSON *s = script_new();
	script_rule(s, "GET", NULL, 410,
		    "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
		    "\"message\":\"too old resource version: 1 (50)\"}");
	struct env e;
	env_start(&e, s);
	struct events ev = { 0 };
	struct kube_watch_options o = { .resource_version = "1" };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", &o, on_event, &ev, &w), 0);
	ck_assert_int_eq(kube_watch_run(w), KUBE_EGONE);
	ck_assert_int_eq(ev.n, 0);
	/* After a relist the caller resumes from the list's version. */
	ck_assert_int_eq(kube_watch_set_resource_version(w, "50"), 0);
	ck_assert_str_eq(kube_watch_resource_version(w), "50");
	kube_watch_free(w);
	env_stop(&e);
}
END_TEST

START_TEST(gone_error_event)
{
	static const char *const chunks[] = {
		EV("ADDED", "a", "5"),
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
		"\"v1\",\"status\":\"Failure\",\"message\":\"too old resource "
		"version\",\"reason\":\"Expired\",\"code\":410}}\n",
		EV("ADDED", "never", "6"),
		NULL,
	};
	cJSON *s = script_new();
	stream_rule(s, chunks, 0);
	struct env e;
	env_start(&e, s);
	struct events ev = { 0 };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event, &ev, &w), 0);
	ck_assert_int_eq(kube_watch_run(w), KUBE_EGONE);
	ck_assert_int_eq(ev.n, 1);
	kube_watch_free(w);
	env_stop(&e);
}
END_TEST

START_TEST(callback_and_cap_stop)
{
	static const char *const chunks[] = {
		EV("ADDED", "a", "1") EV("ADDED", "b", "2") EV("ADDED", "c", "3"),
		NULL,
	};
	cJSON *s = script_new();
	stream_rule(s, chunks, 0);
	struct env e;
	env_start(&e, s);
	struct events ev = { .stop_at = 2 };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event, &ev, &w), 0);
	ck_assert_int_eq(kube_watch_run(w), 42);
	ck_assert_int_eq(ev.n, 2);
	ck_assert_str_eq(kube_watch_resource_version(w), "2");
	kube_watch_free(w);

	/* An event over max_event ends the watch with -EFBIG. */
	struct kube_watch_options o = { .max_event = 40 };
	ev = (struct events){ 0 };
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", &o, on_event, &ev, &w), 0);
	ck_assert_int_eq(kube_watch_run(w), -EFBIG);
	ck_assert_int_eq(ev.n, 0);
	kube_watch_free(w);
	env_stop(&e);
}
END_TEST

START_TEST(retry_before_stream)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", "/api/v1/namespaces/ns1/pods", 503, NULL);
	cJSON_AddNumberToObject(r, "times", 1);
	static const char *const chunks[] = { EV("ADDED", "a", "1"), NULL };
	stream_rule(s, chunks, 0);
	struct env e;
	env_start(&e, s);
	struct events ev = { 0 };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, NULL, NULL, on_event, &ev, &w), 0);
	/* All namespaces: /api/v1/pods has no rule, a 404. */
	ck_assert_int_eq(kube_watch_run(w), -ENOENT);
	kube_watch_free(w);
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event, &ev, &w), 0);
	/* The 503 before the stream started is retried. */
	ck_assert_int_eq(kube_watch_run(w), 0);
	ck_assert_int_eq(ev.n, 1);
	kube_watch_free(w);
	cJSON *reqs = fixture_requests(&e.f);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 3);
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

struct canceller {
	struct kube_watch *w;
	struct events *ev;
};

/* Waits up to 10 s for n events; returns how many came. */
static int wait_events(struct events *ev, int n)
{
	for (int i = 0; i < 2000 && __atomic_load_n(&ev->n, __ATOMIC_SEQ_CST) < n; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return __atomic_load_n(&ev->n, __ATOMIC_SEQ_CST);
}

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;
	/* Wait for the first event so the stream is surely running. */
	(void)wait_events(k->ev, 1);
	kube_watch_cancel(k->w);
	return NULL;
}

static int on_event_atomic(void *ud, enum kube_event_type t, cJSON *obj)
{
	struct events *ev = ud;
	cJSON_Delete(obj);
	__atomic_add_fetch(&ev->n, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* A script whose watches each get one ADDED event and then stay open. */
static cJSON *held_stream(void)
{
	static const char *const chunks[] = { EV("ADDED", "a", "1"), NULL };
	cJSON *s = script_new();
	cJSON *r = stream_rule(s, chunks, 0);

	cJSON_AddBoolToObject(r, "hold", 1);
	return s;
}

START_TEST(cancel_from_thread)
{
	cJSON *s = held_stream();
	struct env e;
	env_start(&e, s);
	struct events ev = { 0 };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event_atomic,
					&ev, &w), 0);
	struct canceller k = { w, &ev };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, &k), 0);
	ck_assert_int_eq(kube_watch_run(w), -ECANCELED);
	pthread_join(t, NULL);
	ck_assert_int_eq(ev.n, 1);
	/* Cancelled stays cancelled. */
	ck_assert_int_eq(kube_watch_run(w), -ECANCELED);
	kube_watch_free(w);
	env_stop(&e);
}
END_TEST

/* A request made from a watch's callback (which runs on the client's
 * streams thread) is answered, not left waiting for that thread. */
struct reentry {
	struct kube_client *c;
	int got;
	char name[16];
};

static int on_event_get(void *ud, enum kube_event_type t, cJSON *obj)
{
	static const struct kube_resource cms = { "", "v1", "configmaps", "ConfigMap", true };
	struct reentry *r = ud;
	cJSON *cm = NULL;

	cJSON_Delete(obj);
	r->got = kube_get(r->c, &cms, "ns1", "x", &cm, NULL);
	const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "metadata"), "name");
	snprintf(r->name, sizeof(r->name), "%s", cJSON_IsString(name) ? name->valuestring : "");
	cJSON_Delete(cm);
	return 42;
}

START_TEST(request_from_callback)
{
	cJSON *s = held_stream();
	script_rule(s, "GET", "/api/v1/namespaces/ns1/configmaps/x", 200,
		    "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}");
	struct env e;
	env_start(&e, s);
	struct reentry re = { .c = e.c, .got = 1 };
	struct kube_watch *w = NULL;
	ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event_get, &re, &w), 0);
	ck_assert_int_eq(kube_watch_run(w), 42);
	ck_assert_int_eq(re.got, 0);
	ck_assert_str_eq(re.name, "x");
	kube_watch_free(w);
	env_stop(&e);
}
END_TEST

/* Watches on several threads at once, through the one streams thread:
 * each gets its own events while the others stay open, and each ends
 * when cancelled. */
#define NWATCH 6
struct watcher {
	struct kube_watch *w;
	struct events ev;
	int rc;
};

static void *run_watch(void *arg)
{
	struct watcher *x = arg;
	x->rc = kube_watch_run(x->w);
	return NULL;
}

START_TEST(concurrent_watches)
{
	cJSON *s = held_stream();
	struct env e;
	env_start(&e, s);
	struct watcher x[NWATCH];
	pthread_t t[NWATCH];
	memset(x, 0, sizeof(x));
	for (int i = 0; i < NWATCH; i++) {
		ck_assert_int_eq(kube_watch_new(e.c, &pods, "ns1", NULL, on_event_atomic,
						&x[i].ev, &x[i].w), 0);
		ck_assert_int_eq(pthread_create(&t[i], NULL, run_watch, &x[i]), 0);
	}
	/* every stream delivers while all are open */
	for (int i = 0; i < NWATCH; i++)
		ck_assert_int_eq(wait_events(&x[i].ev, 1), 1);
	for (int i = 0; i < NWATCH; i++)
		kube_watch_cancel(x[i].w);
	for (int i = 0; i < NWATCH; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(x[i].rc, -ECANCELED);
		kube_watch_free(x[i].w);
	}
	env_stop(&e);
}
END_TEST

int main(void)
{
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	Suite *s = suite_create("kube-watch");
	TCase *tc = tcase_create("watch");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stream_bookmarks_resume);
	tcase_add_test(tc, gone_http_410);
	tcase_add_test(tc, gone_error_event);
	tcase_add_test(tc, callback_and_cap_stop);
	tcase_add_test(tc, retry_before_stream);
	tcase_add_test(tc, cancel_from_thread);
	tcase_add_test(tc, request_from_callback);
	tcase_add_test(tc, concurrent_watches);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
