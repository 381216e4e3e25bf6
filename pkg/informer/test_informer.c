#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakeapi.h"
#include "informer.h"
#include "informer-private.h"

/* Polls cond for up to 30 s: generous, so a loaded machine never flakes;
 * the tests assert what happened, not how fast. */
#define WAIT_FOR(cond)                                                      \
	do {                                                                \
		int _ms = 0;                                                \
		while (!(cond) && _ms < 30000) {                            \
			usleep(10000);                                      \
			_ms += 10;                                          \
		}                                                           \
		ck_assert_msg((cond), "timed out waiting for " #cond);      \
	} while (0)

static const struct kube_resource configmaps = {
	.group = "", .version = "v1", .resource = "configmaps",
	.kind = "ConfigMap", .namespaced = true,
};

/* What the handlers saw: one line per call, "add ns/name data",
 * "update ns/name old->new", "delete ns/name". */
struct record {
	pthread_mutex_t lock;
	char lines[512][96];
	int n;
};

static const char *data_v(const cJSON *o)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "v");
	return cJSON_IsString(v) ? v->valuestring : "-";
}

static const char *name_of(const cJSON *o)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	return cJSON_GetObjectItemCaseSensitive(md, "name")->valuestring;
}

static void put(struct record *r, const char *line)
{
	pthread_mutex_lock(&r->lock);
	if (r->n < 512)
		snprintf(r->lines[r->n++], 96, "%s", line);
	pthread_mutex_unlock(&r->lock);
}

static void on_add(void *ud, const cJSON *o)
{
	char line[96];
	snprintf(line, sizeof(line), "add %s %s", name_of(o), data_v(o));
	put(ud, line);
}

static void on_update(void *ud, const cJSON *o, const cJSON *n)
{
	char line[96];
	snprintf(line, sizeof(line), "update %s %s->%s", name_of(n), data_v(o),
		 data_v(n));
	put(ud, line);
}

static void on_delete(void *ud, const cJSON *o)
{
	char line[96];
	snprintf(line, sizeof(line), "delete %s", name_of(o));
	put(ud, line);
}

static bool seen(struct record *r, const char *line)
{
	pthread_mutex_lock(&r->lock);
	bool found = false;
	for (int i = 0; i < r->n && !found; i++)
		found = strcmp(r->lines[i], line) == 0;
	pthread_mutex_unlock(&r->lock);
	return found;
}

static int count_prefix(struct record *r, const char *prefix)
{
	pthread_mutex_lock(&r->lock);
	int n = 0;
	for (int i = 0; i < r->n; i++)
		n += strncmp(r->lines[i], prefix, strlen(prefix)) == 0;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void cm(struct fakeapi *f, const char *ns, const char *name,
	       const char *v, const char *owner_uid, const char *label)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "ConfigMap");
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	if (label)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"),
					"app", label);
	if (owner_uid) {
		cJSON *ref = cJSON_CreateObject();
		cJSON_AddStringToObject(ref, "kind", "PostHog");
		cJSON_AddStringToObject(ref, "name", "owner");
		cJSON_AddStringToObject(ref, "uid", owner_uid);
		cJSON_AddBoolToObject(ref, "controller", 1);
		cJSON_AddItemToArray(cJSON_AddArrayToObject(md, "ownerReferences"), ref);
	}
	cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "v", v);
	ck_assert_int_gt(fakeapi_upsert(f, "/api/v1", "configmaps", ns, o), 0);
	cJSON_Delete(o);
}

struct fixture {
	struct fakeapi *api;
	struct kube_client *client;
	struct informer *inf;
	struct log *log;
	struct record rec;
};

static void setup_opts(struct fixture *fx, struct informer_options io)
{
	memset(fx, 0, sizeof(*fx));
	pthread_mutex_init(&fx->rec.lock, NULL);
	ck_assert_int_eq(fakeapi_start(&fx->api), 0);
	char *yaml = fakeapi_kubeconfig(fx->api);
	struct kube_config *cfg;
	ck_assert_int_eq(kube_config_from_yaml(yaml, strlen(yaml), NULL, NULL, &cfg), 0);
	free(yaml);
	struct kube_client_options co = { .qps = -1 };
	ck_assert_int_eq(kube_client_new(cfg, &co, &fx->client), 0);
	if (getenv("TEST_LOG"))
		ck_assert_int_eq(log_new(2, LOG_DEBUG, LOG_FORMAT_TEXT, &fx->log), 0);
	io.log = fx->log;
	ck_assert_int_eq(informer_new(fx->client, &io, &fx->inf), 0);
	informer_set_backoff(fx->inf, 20, 200);
	struct informer_handlers h = { on_add, on_update, on_delete, &fx->rec };
	ck_assert_int_eq(informer_add_handlers(fx->inf, &h), 0);
}

static void setup(struct fixture *fx, const char *ns, const char *selector)
{
	setup_opts(fx, (struct informer_options){ .resource = configmaps, .namespace = ns,
						  .label_selector = selector });
}

static void teardown(struct fixture *fx)
{
	informer_free(fx->inf);
	kube_client_free(fx->client);
	fakeapi_stop(fx->api);
	log_free(fx->log);
	pthread_mutex_destroy(&fx->rec.lock);
}

START_TEST(test_list_then_watch)
{
	struct fixture fx;
	setup(&fx, NULL, NULL);
	cm(fx.api, "a", "one", "1", NULL, NULL);
	cm(fx.api, "b", "two", "1", NULL, NULL);
	ck_assert(!informer_has_synced(fx.inf));
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	ck_assert(seen(&fx.rec, "add one 1"));
	ck_assert(seen(&fx.rec, "add two 1"));
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	cm(fx.api, "a", "one", "2", NULL, NULL);
	cm(fx.api, "a", "three", "1", NULL, NULL);
	fakeapi_remove(fx.api, "/api/v1", "configmaps", "b", "two");
	WAIT_FOR(seen(&fx.rec, "delete two"));
	ck_assert(seen(&fx.rec, "update one 1->2"));
	ck_assert(seen(&fx.rec, "add three 1"));
	ck_assert_uint_eq(informer_count(fx.inf), 2);
	cJSON *o = informer_get(fx.inf, "a", "one");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(data_v(o), "2");
	cJSON_Delete(o);
	ck_assert_ptr_null(informer_get(fx.inf, "b", "two"));
	cJSON *l = informer_list(fx.inf, "a");
	ck_assert_int_eq(cJSON_GetArraySize(l), 2);
	cJSON_Delete(l);
	l = informer_list(fx.inf, "b");
	ck_assert_int_eq(cJSON_GetArraySize(l), 0);
	cJSON_Delete(l);
	/* one list, and the watch asked for bookmarks */
	ck_assert_uint_eq(informer_list_count(fx.inf), 1);
	ck_assert_uint_ge(fakeapi_count(fx.api, "GET", "allowWatchBookmarks=true"), 1);
	teardown(&fx);
}
END_TEST

/* informer_cancel() ends the watch without joining, and the reflector
 * opens no other; informer_stop() then joins, and a cancel after it (or
 * a second one) does nothing. */
START_TEST(test_cancel_without_join)
{
	struct fixture fx;
	setup(&fx, NULL, NULL);
	cm(fx.api, "a", "one", "1", NULL, NULL);
	informer_cancel(fx.inf); /* not running: nothing */
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	size_t watches = fakeapi_count(fx.api, "GET", "watch=1");
	informer_cancel(fx.inf);
	informer_cancel(fx.inf);
	WAIT_FOR(fakeapi_watchers(fx.api) == 0);
	informer_stop(fx.inf);
	ck_assert_uint_eq(fakeapi_count(fx.api, "GET", "watch=1"), watches);
	ck_assert_uint_eq(informer_list_count(fx.inf), 1);
	informer_cancel(fx.inf);
	teardown(&fx);
}
END_TEST

START_TEST(test_owner_index_and_selector)
{
	struct fixture fx;
	setup(&fx, "ns", "app=mine");
	cm(fx.api, "ns", "c1", "1", "uid-1", "mine");
	cm(fx.api, "ns", "c2", "1", "uid-1", "mine");
	cm(fx.api, "ns", "c3", "1", "uid-2", "mine");
	cm(fx.api, "ns", "other", "1", "uid-1", "theirs");
	cm(fx.api, "elsewhere", "c4", "1", "uid-1", "mine");
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	ck_assert_uint_eq(informer_count(fx.inf), 3);
	cJSON *l = informer_list_by_owner(fx.inf, "uid-1");
	ck_assert_int_eq(cJSON_GetArraySize(l), 2);
	cJSON_Delete(l);
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	/* re-owned through an update: the index follows */
	cm(fx.api, "ns", "c2", "2", "uid-2", "mine");
	WAIT_FOR(seen(&fx.rec, "update c2 1->2"));
	l = informer_list_by_owner(fx.inf, "uid-2");
	ck_assert_int_eq(cJSON_GetArraySize(l), 2);
	cJSON_Delete(l);
	fakeapi_remove(fx.api, "/api/v1", "configmaps", "ns", "c3");
	WAIT_FOR(seen(&fx.rec, "delete c3"));
	l = informer_list_by_owner(fx.inf, "uid-2");
	ck_assert_int_eq(cJSON_GetArraySize(l), 1);
	cJSON_Delete(l);
	ck_assert(!seen(&fx.rec, "add other 1"));
	ck_assert(!seen(&fx.rec, "add c4 1"));
	teardown(&fx);
}
END_TEST

START_TEST(test_relist_on_gone)
{
	struct fixture fx;
	setup(&fx, NULL, NULL);
	cm(fx.api, "a", "keep", "1", NULL, NULL);
	cm(fx.api, "a", "change", "1", NULL, NULL);
	cm(fx.api, "a", "vanish", "1", NULL, NULL);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	/* While the watch is down, history is compacted and objects change:
	 * the resumed watch gets 410 and the informer must relist, updating
	 * what changed and deleting what vanished. */
	fakeapi_set_down(fx.api, true);
	fakeapi_drop_watches(fx.api);
	WAIT_FOR(fakeapi_watchers(fx.api) == 0);
	cm(fx.api, "a", "change", "2", NULL, NULL);
	cm(fx.api, "a", "new", "1", NULL, NULL);
	fakeapi_remove(fx.api, "/api/v1", "configmaps", "a", "vanish");
	fakeapi_compact(fx.api);
	fakeapi_set_down(fx.api, false);
	WAIT_FOR(informer_list_count(fx.inf) == 2);
	WAIT_FOR(seen(&fx.rec, "delete vanish"));
	ck_assert(seen(&fx.rec, "update change 1->2"));
	ck_assert(seen(&fx.rec, "add new 1"));
	/* unchanged objects are not replayed by a relist */
	ck_assert_int_eq(count_prefix(&fx.rec, "update keep"), 0);
	ck_assert_uint_eq(informer_count(fx.inf), 3);
	/* and the new watch carries on */
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	cm(fx.api, "a", "keep", "2", NULL, NULL);
	WAIT_FOR(seen(&fx.rec, "update keep 1->2"));
	teardown(&fx);
}
END_TEST

START_TEST(test_reconnect_resumes)
{
	struct fixture fx;
	setup(&fx, NULL, NULL);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	char name[32], want[64];
	for (int round = 0; round < 5; round++) {
		WAIT_FOR(fakeapi_watchers(fx.api) == 1);
		/* changes made while the watch is dropped are picked up by the
		 * resumed watch, without a relist */
		fakeapi_set_down(fx.api, true);
		fakeapi_drop_watches(fx.api);
		WAIT_FOR(fakeapi_watchers(fx.api) == 0);
		snprintf(name, sizeof(name), "r%d", round);
		cm(fx.api, "a", name, "1", NULL, NULL);
		fakeapi_set_down(fx.api, false);
		snprintf(want, sizeof(want), "add %s 1", name);
		WAIT_FOR(seen(&fx.rec, want));
	}
	ck_assert_uint_eq(informer_list_count(fx.inf), 1);
	ck_assert_uint_eq(informer_count(fx.inf), 5);
	teardown(&fx);
}
END_TEST

START_TEST(test_list_failure_retries_and_resync)
{
	struct fixture fx;
	setup(&fx, NULL, NULL);
	cm(fx.api, "a", "x", "1", NULL, NULL);
	fakeapi_fail_next(fx.api, 3, 500);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	ck_assert(seen(&fx.rec, "add x 1"));
	informer_resync(fx.inf);
	ck_assert(seen(&fx.rec, "update x 1->1"));
	teardown(&fx);
}
END_TEST

/* This process's threads named name (the informer names its own). */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;  /* the thread has ended */
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
		n += !strcmp(comm, name);
	}
	closedir(d);
	return n;
}

START_TEST(test_periodic_resync)
{
	struct fixture fx;
	setup_opts(&fx, (struct informer_options){ .resource = configmaps, .resync_ms = 100 });
	cm(fx.api, "a", "x", "1", NULL, NULL);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(count_prefix(&fx.rec, "update x 1->1") >= 2);
	ck_assert_int_eq(threads_named("informer-resync"), 1);
	teardown(&fx);
}
END_TEST

/* INFORMER_NO_RESYNC: no timer thread, and a resync asked for still
 * replays the cache. */
START_TEST(test_no_resync)
{
	struct fixture fx;
	setup_opts(&fx, (struct informer_options){ .resource = configmaps, .resync_ms = INFORMER_NO_RESYNC });
	cm(fx.api, "a", "x", "1", NULL, NULL);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	WAIT_FOR(fakeapi_watchers(fx.api) == 1);
	ck_assert_int_eq(threads_named("informer"), 1);
	ck_assert_int_eq(threads_named("informer-resync"), 0);
	cm(fx.api, "a", "x", "2", NULL, NULL);
	WAIT_FOR(seen(&fx.rec, "update x 1->2"));
	ck_assert_int_eq(count_prefix(&fx.rec, "update x 2->2"), 0);
	informer_resync(fx.inf);
	ck_assert_int_eq(count_prefix(&fx.rec, "update x 2->2"), 1);
	informer_stop(fx.inf);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	WAIT_FOR(informer_has_synced(fx.inf));
	teardown(&fx);
}
END_TEST

static void other_transform(void *ud, cJSON *obj)
{
	(void)ud;
	informer_strip(obj);
}

/* informer_serves: the informer is made with the first options; does it
 * serve the second? */
static const struct kube_resource secrets_res = {
	.group = "", .version = "v1", .resource = "secrets", .kind = "Secret", .namespaced = true,
};
static const struct kube_resource apps_cm = {
	.group = "apps", .version = "v1", .resource = "configmaps", .kind = "ConfigMap", .namespaced = true,
};
static const struct {
	struct informer_options made, asked;
	bool serves;
} serves_cases[] = {
	{ { .resource = configmaps }, { .resource = configmaps }, true },
	/* resync and log do not change what is cached */
	{ { .resource = configmaps, .resync_ms = 1000 },
	  { .resource = configmaps, .resync_ms = INFORMER_NO_RESYNC }, true },
	{ { .resource = configmaps, .page_size = 500 }, { .resource = configmaps }, true },
	{ { .resource = configmaps, .namespace = "a", .label_selector = "x=1" },
	  { .resource = configmaps, .namespace = "a", .label_selector = "x=1" }, true },
	{ { .resource = configmaps }, { .resource = secrets_res }, false },
	{ { .resource = configmaps }, { .resource = apps_cm }, false },
	{ { .resource = configmaps, .namespace = "a" }, { .resource = configmaps }, false },
	{ { .resource = configmaps }, { .resource = configmaps, .namespace = "a" }, false },
	{ { .resource = configmaps, .namespace = "a" }, { .resource = configmaps, .namespace = "b" }, false },
	{ { .resource = configmaps, .label_selector = "x=1" }, { .resource = configmaps }, false },
	{ { .resource = configmaps, .label_selector = "x=1" },
	  { .resource = configmaps, .label_selector = "x=2" }, false },
	{ { .resource = configmaps }, { .resource = configmaps, .transform = other_transform }, false },
	{ { .resource = configmaps, .transform = other_transform },
	  { .resource = configmaps, .transform = other_transform, .transform_userdata = "other" }, false },
	{ { .resource = configmaps }, { .resource = configmaps, .page_size = 100 }, false },
};

START_TEST(test_serves)
{
	struct informer *inf;

	ck_assert_int_eq(informer_new(NULL, &serves_cases[_i].made, &inf), 0);
	ck_assert_msg(informer_serves(inf, &serves_cases[_i].asked) == serves_cases[_i].serves,
		      "case %d", _i);
	informer_free(inf);
}
END_TEST

/* informer_resync_within keeps the shorter period, and only before the
 * start: a NO_RESYNC informer asked for a resync runs the timer. */
START_TEST(test_resync_within)
{
	struct fixture fx;
	setup_opts(&fx, (struct informer_options){ .resource = configmaps, .resync_ms = INFORMER_NO_RESYNC });
	ck_assert_int_eq(informer_resync_within(fx.inf, 100), 0);
	ck_assert_int_eq(informer_resync_within(fx.inf, 0), 0); /* 10 h: longer, ignored */
	ck_assert_int_eq(informer_resync_within(fx.inf, INFORMER_NO_RESYNC), 0);
	cm(fx.api, "a", "x", "1", NULL, NULL);
	ck_assert_int_eq(informer_start(fx.inf), 0);
	ck_assert_int_eq(informer_resync_within(fx.inf, 50), -EBUSY);
	ck_assert_int_eq(informer_resync_within(fx.inf, 100), 0);
	ck_assert_int_eq(informer_resync_within(fx.inf, INFORMER_NO_RESYNC), 0);
	WAIT_FOR(count_prefix(&fx.rec, "update x 1->1") >= 2);
	teardown(&fx);
}
END_TEST

static void count_link(void *ud, struct cache_entry *e)
{
	(void)e;
	(*(int *)ud)++;
}

START_TEST(test_handler_limit)
{
	struct informer *inf;
	struct informer_options io = { .resource = configmaps };
	ck_assert_int_eq(informer_new(NULL, &io, &inf), 0);
	struct informer_handlers h = { 0 };
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(informer_add_handlers(inf, &h), 0);
	ck_assert_int_eq(informer_add_handlers(inf, &h), -ENOSPC);
	informer_free(inf);
}
END_TEST

/* informer_strip: in, and what is left. */
static const struct {
	const char *in, *out;
} strip_cases[] = {
	{"{\"metadata\":{\"name\":\"a\",\"managedFields\":[{\"manager\":\"m\"}]}}",
	 "{\"metadata\":{\"name\":\"a\"}}"},
	{"{\"metadata\":{\"name\":\"a\",\"annotations\":{\"x\":\"1\","
	 "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}}}",
	 "{\"metadata\":{\"name\":\"a\",\"annotations\":{\"x\":\"1\"}}}"},
	/* an annotations map left empty goes too */
	{"{\"metadata\":{\"name\":\"a\",\"annotations\":{"
	 "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}}}",
	 "{\"metadata\":{\"name\":\"a\"}}"},
	/* nothing to strip; spec and status untouched */
	{"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"managedFields\":1},\"status\":{\"r\":2}}",
	 "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"managedFields\":1},\"status\":{\"r\":2}}"},
	{"{}", "{}"},
};

START_TEST(test_strip)
{
	cJSON *in = cJSON_Parse(strip_cases[_i].in), *want = cJSON_Parse(strip_cases[_i].out);

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(want);
	informer_strip(in);
	ck_assert_msg(cJSON_Compare(in, want, true), "case %d", _i);
	cJSON_Delete(in);
	cJSON_Delete(want);
}
END_TEST

/* The compact form gives back the same document, whatever it holds. */
static const char *const compact_cases[] = {
	"{}",
	"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
	"\"namespace\":\"n\",\"resourceVersion\":\"7\"},\"data\":{\"k\":\"v\\n\\u0001\"}}",
	"{\"a\":[1,-2.5,1e300,true,false,null,\"\\u00e9\\u4e2d\",[],{}],\"b\":{\"c\":{\"d\":[[[]]]}}}",
	"{\"kind\":\"Deployment\",\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":"
	"[{\"name\":\"x\",\"image\":\"i:1\",\"terminationMessagePath\":\"/dev/termination-log\"}]}}}}",
};

START_TEST(test_compact_roundtrip)
{
	cJSON *in = cJSON_Parse(compact_cases[_i]), *out;
	struct compact z;

	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(compact_encode(in, &z), 0);
	out = compact_decode(&z);
	ck_assert_msg(cJSON_Compare(in, out, true), "case %d", _i);
	compact_free(&z);
	cJSON_Delete(in);
	cJSON_Delete(out);
}
END_TEST

/* A large object is held in far fewer bytes than its JSON. */
START_TEST(test_compact_is_small)
{
	cJSON *o = cJSON_CreateObject(), *l = cJSON_AddArrayToObject(o, "items");
	struct compact z;
	char *text;

	for (int i = 0; i < 200; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", "posthog-plugins-ingestion");
		cJSON_AddNumberToObject(e, "index", i);
		cJSON_AddItemToArray(l, e);
	}
	text = cJSON_PrintUnformatted(o);
	ck_assert_int_eq(compact_encode(o, &z), 0);
	ck_assert_uint_eq(z.raw, strlen(text));
	ck_assert_uint_lt(z.len, z.raw / 4);
	compact_free(&z);
	free(text);
	cJSON_Delete(o);
}
END_TEST

/* The store directly: replacing keeps one entry and the new
 * resourceVersion, gives back the old object, and moves the owner links;
 * removing gives the object back once. */
START_TEST(test_cache_store)
{
	struct cache c;
	cJSON *a1 = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\","
				"\"ownerReferences\":[{\"uid\":\"u1\"}]},\"v\":1}");
	cJSON *a2 = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\","
				"\"ownerReferences\":[{\"uid\":\"u2\"}]},\"v\":2}");
	cJSON *old = NULL;
	int links = 0;

	cache_init(&c);
	ck_assert_int_eq(cache_put(&c, "a", a1, &old), 0);
	ck_assert_ptr_null(old);
	ck_assert_str_eq(cache_find(&c, "a")->rv, "1");
	ck_assert_int_eq(cache_put(&c, "a", a2, &old), 0);
	ck_assert(cJSON_Compare(old, a1, true));
	cJSON_Delete(old);
	ck_assert_uint_eq(c.count, 1);
	ck_assert_str_eq(cache_find(&c, "a")->rv, "2");
	ck_assert_str_eq(cache_find(&c, "a")->key, "a");
	cache_foreach_owner(&c, "u1", count_link, &links);
	ck_assert_int_eq(links, 0);
	cache_foreach_owner(&c, "u2", count_link, &links);
	ck_assert_int_eq(links, 1);
	ck_assert_uint_gt(cache_bytes(&c), 0);
	ck_assert(cache_remove(&c, "a", &old));
	ck_assert(cJSON_Compare(old, a2, true));
	cJSON_Delete(old);
	ck_assert(!cache_remove(&c, "a", NULL));
	ck_assert_uint_eq(c.count, 0);
	cache_free(&c);
	cJSON_Delete(a1);
	cJSON_Delete(a2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("informer");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_list_then_watch);
	tcase_add_test(tc, test_cancel_without_join);
	tcase_add_test(tc, test_owner_index_and_selector);
	tcase_add_test(tc, test_relist_on_gone);
	tcase_add_test(tc, test_reconnect_resumes);
	tcase_add_test(tc, test_list_failure_retries_and_resync);
	tcase_add_test(tc, test_periodic_resync);
	tcase_add_test(tc, test_no_resync);
	tcase_add_loop_test(tc, test_serves, 0, sizeof(serves_cases) / sizeof(serves_cases[0]));
	tcase_add_test(tc, test_resync_within);
	tcase_add_test(tc, test_handler_limit);
	tcase_add_loop_test(tc, test_strip, 0, sizeof(strip_cases) / sizeof(*strip_cases));
	tcase_add_loop_test(tc, test_compact_roundtrip, 0,
			    sizeof(compact_cases) / sizeof(*compact_cases));
	tcase_add_test(tc, test_compact_is_small);
	tcase_add_test(tc, test_cache_store);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
