/* The client against a real HTTP(S) server on loopback (testdata/fixture.py):
 * verbs, error mapping, retries, pagination, body caps, discovery, TLS
 * with a client certificate, and every way of authenticating. */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-private.h"
#include "test_fixture.h"

static char *pki; /* generated once per run */

static const struct kube_resource cm = { "", "v1", "configmaps", "ConfigMap", true };
static const struct kube_resource sts = { "apps", "v1", "statefulsets",
					  "StatefulSet", true };

struct env {
	char *dir;
	struct fixture f;
	struct kube_client *c;
};

static struct kube_client *client_from_yaml(const char *kc,
					    const struct kube_client_options *o)
{
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_from_yaml(kc, strlen(kc), NULL, NULL, &cfg), 0);
	struct kube_client_options def = { .qps = -1 };
	struct kube_client *c = NULL;
	ck_assert_int_eq(kube_client_new(cfg, o ? o : &def, &c), 0);
	kube_client_set_backoff(c, 10, 100);
	return c;
}

/* Plain HTTP with a bearer token. */
static void env_start(struct env *e, cJSON *script,
		      const struct kube_client_options *o, const char *user)
{
	e->dir = tmpdir_new();
	fixture_start_script(&e->f, e->dir, script, 0);
	char *kc = kubeconfig_text(e->f.url, NULL,
				   user ? user : "    token: secret-token\n");
	e->c = client_from_yaml(kc, o);
	free(kc);
}

static void env_stop(struct env *e)
{
	kube_client_free(e->c);
	fixture_stop(&e->f);
	tmpdir_free(e->dir);
}

static cJSON *req(cJSON *reqs, int i)
{
	cJSON *r = cJSON_GetArrayItem(reqs, i);
	ck_assert_msg(r != NULL, "request %d missing", i);
	return r;
}

static const char *field(cJSON *r, const char *a, const char *b)
{
	cJSON *v = cJSON_GetObjectItem(r, a);
	if (b)
		v = cJSON_GetObjectItem(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- verbs ------------------------------------------------------------ */

START_TEST(verbs)
{
	cJSON *s = script_new();
	static const char obj[] =
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
		"\"x\",\"namespace\":\"ns1\",\"resourceVersion\":\"7\"},"
		"\"futureField\":{\"keep\":[1,2]}}";
	script_rule(s, "GET", "/api/v1/namespaces/ns1/configmaps/x", 200, obj);
	script_rule(s, "POST", "/api/v1/namespaces/ns1/configmaps", 201, obj);
	script_rule(s, "PUT", "/apis/apps/v1/namespaces/ns1/statefulsets/web/status",
		    200, obj);
	script_rule(s, "PATCH", "/apis/apps/v1/namespaces/ns1/statefulsets/web",
		    200, obj);
	script_rule(s, "PATCH", "/api/v1/namespaces/ns1/configmaps/x", 200, obj);
	script_rule(s, "DELETE", "/api/v1/namespaces/ns1/configmaps/x", 200,
		    "{\"kind\":\"Status\",\"status\":\"Success\"}");
	struct env e;
	env_start(&e, s, NULL, NULL);
	struct kube_status st;
	cJSON *out = NULL, *in = cJSON_Parse(obj);

	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", &out, &st), 0);
	/* Unknown fields survive. */
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(out, "futureField"));
	cJSON_Delete(out);
	ck_assert_int_eq(kube_create(e.c, &cm, "ns1", in, &out, &st), 0);
	cJSON_Delete(out);
	ck_assert_int_eq(kube_update(e.c, &sts, "ns1", "web", "status", in, NULL,
				     &st), 0);
	struct kube_apply_options ao = { .field_manager = "posthog-operator",
					 .force = true };
	ck_assert_int_eq(kube_apply(e.c, &sts, "ns1", "web", in, &ao, &out, &st), 0);
	cJSON_Delete(out);
	ck_assert_int_eq(kube_merge_patch(e.c, &cm, "ns1", "x", NULL, in, NULL,
					  &st), 0);
	struct kube_delete_options dopt = {
		.propagation_policy = "Foreground",
		.precondition_uid = "uid-1",
		.precondition_resource_version = "7",
		.grace_period_seconds = -1,
	};
	ck_assert_int_eq(kube_delete(e.c, &cm, "ns1", "x", &dopt, &st), 0);
	/* Argument checks never reach the server. */
	ck_assert_int_eq(kube_get(e.c, &cm, NULL, "x", &out, &st), -EINVAL);
	ao.field_manager = NULL;
	ck_assert_int_eq(kube_apply(e.c, &sts, "ns1", "web", in, &ao, &out, &st),
			 -EINVAL);

	cJSON *reqs = fixture_requests(&e.f);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 6);
	cJSON *r = req(reqs, 0);
	ck_assert_str_eq(field(r, "headers", "user-agent"),
			 "posthog-operator/" PHO_VERSION);
	ck_assert_str_eq(field(r, "headers", "authorization"), "Bearer secret-token");
	ck_assert_str_eq(field(r, "headers", "accept"), "application/json");
	r = req(reqs, 1);
	ck_assert_str_eq(field(r, "headers", "content-type"), "application/json");
	cJSON *sent = cJSON_Parse(field(r, "body", NULL));
	ck_assert(cJSON_Compare(sent, in, 1));
	cJSON_Delete(sent);
	r = req(reqs, 3);
	ck_assert_str_eq(field(r, "headers", "content-type"),
			 "application/apply-patch+yaml");
	ck_assert_str_eq(field(r, "query", "fieldManager"), "posthog-operator");
	ck_assert_str_eq(field(r, "query", "force"), "true");
	r = req(reqs, 4);
	ck_assert_str_eq(field(r, "headers", "content-type"),
			 "application/merge-patch+json");
	r = req(reqs, 5);
	cJSON *d = cJSON_Parse(field(r, "body", NULL));
	ck_assert_str_eq(cJSON_GetObjectItem(d, "propagationPolicy")->valuestring,
			 "Foreground");
	cJSON *pre = cJSON_GetObjectItem(d, "preconditions");
	ck_assert_str_eq(cJSON_GetObjectItem(pre, "uid")->valuestring, "uid-1");
	ck_assert_str_eq(cJSON_GetObjectItem(pre, "resourceVersion")->valuestring,
			 "7");
	ck_assert_ptr_null(cJSON_GetObjectItem(d, "gracePeriodSeconds"));
	cJSON_Delete(d);
	cJSON_Delete(reqs);
	cJSON_Delete(in);
	env_stop(&e);
}
END_TEST

/* ---- error mapping ------------------------------------------------------ */

static const struct {
	int code;
	const char *reason; /* NULL: a non-Status body */
	int err;
} map_cases[] = {
	{ 400, "BadRequest", -EBADMSG }, { 401, "Unauthorized", -EACCES },
	{ 403, "Forbidden", -EPERM }, { 404, "NotFound", -ENOENT },
	{ 405, "MethodNotAllowed", -EOPNOTSUPP },
	{ 409, "AlreadyExists", -EEXIST }, { 409, "Conflict", KUBE_ECONFLICT },
	{ 410, "Expired", KUBE_EGONE }, { 413, "RequestEntityTooLarge", -E2BIG },
	{ 415, "UnsupportedMediaType", -EPROTO }, { 422, "Invalid", -EINVAL },
	{ 429, "TooManyRequests", -EBUSY }, { 500, "InternalError", -EIO },
	{ 502, NULL, -EIO }, { 503, "ServiceUnavailable", -EIO },
	{ 504, "Timeout", -ETIMEDOUT },
};

START_TEST(error_mapping)
{
	cJSON *s = script_new();
	cJSON *r;
	if (map_cases[_i].reason) {
		char body[256];
		snprintf(body, sizeof(body),
			 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
			 "\"Failure\",\"reason\":\"%s\",\"code\":%d,\"message\":"
			 "\"msg %d\"}", map_cases[_i].reason, map_cases[_i].code,
			 map_cases[_i].code);
		r = script_rule(s, NULL, NULL, map_cases[_i].code, body);
	} else {
		r = script_rule(s, NULL, NULL, map_cases[_i].code, NULL);
		cJSON_AddStringToObject(r, "body", "<html>bad gateway</html>");
	}
	/* A budget too small for any wait: the first answer is final. */
	struct kube_client_options o = { .qps = -1, .retry_budget_ms = 1 };
	struct env e;
	env_start(&e, s, &o, NULL);
	struct kube_status st;
	cJSON *out = NULL;
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", &out, &st),
			 map_cases[_i].err);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(st.code, map_cases[_i].code);
	if (map_cases[_i].reason) {
		ck_assert_str_eq(st.reason, map_cases[_i].reason);
		char msg[32];
		snprintf(msg, sizeof(msg), "msg %d", map_cases[_i].code);
		ck_assert_str_eq(st.message, msg);
	} else {
		ck_assert_str_eq(st.message, "<html>bad gateway</html>");
	}
	env_stop(&e);
}
END_TEST

/* ---- retries ------------------------------------------------------------ */

static int count_requests(const struct fixture *f)
{
	cJSON *reqs = fixture_requests(f);
	int n = cJSON_GetArraySize(reqs);
	cJSON_Delete(reqs);
	return n;
}

START_TEST(retry_after_honoured)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, NULL, NULL, 429,
			       "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\"}");
	cJSON_AddNumberToObject(r, "times", 1);
	cJSON_AddItemToObject(r, "headers",
			      cJSON_Parse("{\"Retry-After\":\"1\"}"));
	script_rule(s, NULL, NULL, 201, "{\"kind\":\"ConfigMap\"}");
	struct env e;
	env_start(&e, s, NULL, NULL);
	cJSON *in = cJSON_Parse("{\"kind\":\"ConfigMap\"}"), *out = NULL;
	uint64_t t0 = kube_now_ms();
	/* Even a POST: 429 means the server did nothing. */
	ck_assert_int_eq(kube_create(e.c, &cm, "ns1", in, &out, NULL), 0);
	ck_assert_uint_ge(kube_now_ms() - t0, 1000);
	ck_assert_int_eq(count_requests(&e.f), 2);
	cJSON_Delete(in);
	cJSON_Delete(out);
	env_stop(&e);
}
END_TEST

START_TEST(retry_5xx)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 503, NULL);
	cJSON_AddNumberToObject(r, "times", 2);
	script_rule(s, "GET", NULL, 200, "{\"kind\":\"ConfigMap\"}");
	/* POST: 503 without Retry-After is final, with it retried. */
	r = script_rule(s, "POST", NULL, 503, NULL);
	cJSON_AddNumberToObject(r, "times", 1);
	r = script_rule(s, "POST", NULL, 503, NULL);
	cJSON_AddNumberToObject(r, "times", 1);
	cJSON_AddItemToObject(r, "headers", cJSON_Parse("{\"Retry-After\":\"0\"}"));
	script_rule(s, "POST", NULL, 201, "{}");
	struct env e;
	env_start(&e, s, NULL, NULL);
	cJSON *out = NULL, *in = cJSON_Parse("{}");
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", &out, NULL), 0);
	cJSON_Delete(out);
	ck_assert_int_eq(count_requests(&e.f), 3);
	struct kube_status st;
	ck_assert_int_eq(kube_create(e.c, &cm, "ns1", in, NULL, &st), -EIO);
	ck_assert_int_eq(st.code, 503);
	ck_assert_int_eq(count_requests(&e.f), 4);
	ck_assert_int_eq(kube_create(e.c, &cm, "ns1", in, NULL, &st), 0);
	ck_assert_int_eq(count_requests(&e.f), 6);
	cJSON_Delete(in);
	env_stop(&e);
}
END_TEST

START_TEST(retry_budget_bounds)
{
	cJSON *s = script_new();
	script_rule(s, NULL, NULL, 503, NULL);
	struct kube_client_options o = { .qps = -1, .retry_budget_ms = 400 };
	struct env e;
	env_start(&e, s, &o, NULL);
	uint64_t t0 = kube_now_ms();
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), -EIO);
	/* Generous bound: only a budget ignored would take this long. */
	ck_assert_uint_lt(kube_now_ms() - t0, 20000);
	ck_assert_int_ge(count_requests(&e.f), 2);
	env_stop(&e);
}
END_TEST

/* kube_get_bounded: its own retry budget, not the client's; the handle
 * goes back to the pool for the next request. */
START_TEST(bounded_get)
{
	cJSON *s = script_new();
	script_rule(s, "GET", "/version", 200, "{\"major\":\"1\"}");
	script_rule(s, NULL, NULL, 503, NULL);
	struct kube_client_options o = { .qps = -1, .retry_budget_ms = 60000 };
	struct env e;
	env_start(&e, s, &o, NULL);
	struct buf b;
	int code = 0;
	buf_init(&b, 1024);
	ck_assert_int_eq(kube_get_bounded(e.c, "version", 5000, 300, &b, &code), -EINVAL);
	ck_assert_int_eq(kube_get_bounded(e.c, "/version", 5000, 300, &b, &code), 0);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "\"major\""));
	ck_assert_uint_eq(kube_client_pool_size(e.c), 1);
	buf_free(&b);
	/* 503 is retried for a GET, within 300 ms here: waits of 100 to 200
	 * ms allow at most four attempts, where the client's 60 s would
	 * allow its ten. */
	kube_client_set_backoff(e.c, 200, 200);
	buf_init(&b, 1024);
	ck_assert_int_eq(kube_get_bounded(e.c, "/other", 5000, 300, &b, &code), 0);
	ck_assert_int_eq(code, 503);
	ck_assert_int_le(count_requests(&e.f), 1 + 4);
	buf_free(&b);
	env_stop(&e);
}
END_TEST

START_TEST(connection_failures)
{
	/* A port nobody listens on. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	char url[64], *kc;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
	kc = kubeconfig_text(url, NULL, NULL);
	struct kube_client_options o = { .qps = -1, .retry_budget_ms = 300 };
	struct kube_client *c = client_from_yaml(kc, &o);
	free(kc);
	struct kube_status st;
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", NULL, &st), -ECONNREFUSED);
	ck_assert_int_eq(st.code, 0);
	ck_assert_str_ne(st.message, "");
	kube_client_free(c);

	/* A connection reset after the request was sent: POST is not
	 * retried, GET is. The POST goes first, on a fresh connection:
	 * libcurl itself resends a request once when a reused keep-alive
	 * connection dies before any answer (the idle-close race). */
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 200, NULL);
	cJSON_AddBoolToObject(r, "reset", 1);
	cJSON_AddNumberToObject(r, "times", 1);
	script_rule(s, "GET", NULL, 200, "{}");
	r = script_rule(s, "POST", NULL, 200, NULL);
	cJSON_AddBoolToObject(r, "reset", 1);
	struct env e;
	env_start(&e, s, NULL, NULL);
	cJSON *in = cJSON_Parse("{}");
	int err = kube_create(e.c, &cm, "ns1", in, NULL, &st);
	ck_assert_msg(err == -ECONNRESET, "got %d", err);
	ck_assert_int_eq(count_requests(&e.f), 1);
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), 0);
	ck_assert_int_eq(count_requests(&e.f), 3);
	cJSON_Delete(in);
	env_stop(&e);
}
END_TEST

/* ---- pagination ---------------------------------------------------------- */

static void page(cJSON *s, const char *cont_in, const char *cont_out,
		 int first, int n)
{
	char body[1024];
	int off = snprintf(body, sizeof(body),
			   "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\","
			   "\"metadata\":{\"resourceVersion\":\"100\"%s%s%s},"
			   "\"items\":[", cont_out ? ",\"continue\":\"" : "",
			   cont_out ? cont_out : "",
			   cont_out ? "\",\"remainingItemCount\":3" : "");
	for (int i = 0; i < n; i++)
		off += snprintf(body + off, sizeof(body) - (size_t)off,
				"%s{\"metadata\":{\"name\":\"cm%d\"}}", i ? "," : "",
				first + i);
	snprintf(body + off, sizeof(body) - (size_t)off, "]}");
	cJSON *r = script_rule(s, "GET", "/api/v1/namespaces/ns1/configmaps", 200,
			       body);
	cJSON *q = cJSON_AddObjectToObject(r, "query");
	if (cont_in)
		cJSON_AddStringToObject(q, "continue", cont_in);
	else
		cJSON_AddNullToObject(q, "continue");
}

START_TEST(pagination)
{
	cJSON *s = script_new();
	page(s, NULL, "c1", 0, 2);
	page(s, "c1", "c2", 2, 2);
	page(s, "c2", NULL, 4, 1);
	struct env e;
	env_start(&e, s, NULL, NULL);
	struct kube_list_options lo = { .label_selector = "app=posthog",
					.limit = 2, .resource_version = "0" };
	cJSON *list = NULL;
	ck_assert_int_eq(kube_list(e.c, &cm, "ns1", &lo, &list, NULL), 0);
	cJSON *items = cJSON_GetObjectItem(list, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 5);
	for (int i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof(want), "cm%d", i);
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(
			cJSON_GetArrayItem(items, i), "metadata"), "name")->valuestring,
			want);
		/* the server sent items without them, as kube-apiserver does */
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, i),
						     "apiVersion")->valuestring, "v1");
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, i),
						     "kind")->valuestring, "ConfigMap");
	}
	cJSON *md = cJSON_GetObjectItem(list, "metadata");
	ck_assert_str_eq(cJSON_GetObjectItem(md, "resourceVersion")->valuestring,
			 "100");
	ck_assert_ptr_null(cJSON_GetObjectItem(md, "continue"));
	ck_assert_ptr_null(cJSON_GetObjectItem(md, "remainingItemCount"));
	cJSON_Delete(list);

	cJSON *reqs = fixture_requests(&e.f);
	ck_assert_int_eq(cJSON_GetArraySize(reqs), 3);
	ck_assert_str_eq(field(req(reqs, 0), "query", "labelSelector"), "app=posthog");
	ck_assert_str_eq(field(req(reqs, 0), "query", "limit"), "2");
	ck_assert_str_eq(field(req(reqs, 0), "query", "resourceVersion"), "0");
	ck_assert_str_eq(field(req(reqs, 1), "query", "continue"), "c1");
	ck_assert_str_eq(field(req(reqs, 1), "query", "labelSelector"), "app=posthog");
	/* The continue token pins the snapshot: no resourceVersion with it. */
	ck_assert_ptr_null(field(req(reqs, 1), "query", "resourceVersion"));
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

START_TEST(pagination_expired_restarts)
{
	cJSON *s = script_new();
	/* The first continue expires once; the list restarts from scratch. */
	cJSON *r = script_rule(s, "GET", "/api/v1/namespaces/ns1/configmaps", 410,
			       "{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}");
	cJSON_AddNumberToObject(r, "times", 1);
	cJSON_AddItemToObject(r, "query", cJSON_Parse("{\"continue\":\"c1\"}"));
	page(s, NULL, "c1", 0, 2);
	page(s, "c1", NULL, 2, 2);
	struct env e;
	env_start(&e, s, NULL, NULL);
	struct kube_list_options lo = { .limit = 2 };
	cJSON *list = NULL;
	ck_assert_int_eq(kube_list(e.c, &cm, "ns1", &lo, &list, NULL), 0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 4);
	cJSON_Delete(list);
	ck_assert_int_eq(count_requests(&e.f), 4);
	env_stop(&e);
}
END_TEST

/* ---- caps ----------------------------------------------------------------- */

START_TEST(body_caps)
{
	char big[5000], pad[4001];
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(big, sizeof(big), "{\"data\":\"%s\"}", pad);
	cJSON *s = script_new();
	script_rule(s, "GET", NULL, 200, big);
	script_rule(s, "POST", "/proxy", 201, NULL);
	cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "rules"), 1),
				"body", "created");
	struct kube_client_options o = { .qps = -1, .max_body = 1024 };
	struct env e;
	env_start(&e, s, &o, NULL);
	struct kube_status st;
	cJSON *out = NULL;
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", &out, &st), -EFBIG);
	ck_assert_ptr_null(out);
	/* Not retried: the answer will not shrink. */
	ck_assert_int_eq(count_requests(&e.f), 1);

	struct buf b;
	int code = 0;
	buf_init(&b, 100);
	ck_assert_int_eq(kube_raw(e.c, "GET", "/x", NULL, NULL, 0, &b, &code),
			 -EFBIG);
	buf_free(&b);
	buf_init(&b, 100);
	const char *hdrs[] = { "X-Test: yes", NULL };
	ck_assert_int_eq(kube_raw(e.c, "POST", "/proxy", hdrs, "ping", 4, &b,
				  &code), 0);
	ck_assert_int_eq(code, 201);
	ck_assert_str_eq(buf_str(&b), "created");
	buf_free(&b);
	cJSON *reqs = fixture_requests(&e.f);
	cJSON *r = req(reqs, 2);
	ck_assert_str_eq(field(r, "headers", "x-test"), "yes");
	ck_assert_str_eq(field(r, "body", NULL), "ping");
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

/* ---- discovery ------------------------------------------------------------ */

START_TEST(discovery)
{
	cJSON *s = script_new();
	script_rule(s, "GET", "/apis/apps/v1", 200,
		"{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\","
		"\"resources\":[{\"name\":\"statefulsets\",\"kind\":\"StatefulSet\","
		"\"namespaced\":true},{\"name\":\"statefulsets/status\","
		"\"kind\":\"StatefulSet\",\"namespaced\":true}]}");
	script_rule(s, "GET", "/api/v1", 200,
		"{\"resources\":[{\"name\":\"namespaces\",\"kind\":\"Namespace\","
		"\"namespaced\":false}]}");
	/* The CRD appears between the first and the second fetch. */
	cJSON *r = script_rule(s, "GET", "/apis/posthog.com/v1alpha1", 200,
			       "{\"resources\":[]}");
	cJSON_AddNumberToObject(r, "times", 1);
	script_rule(s, "GET", "/apis/posthog.com/v1alpha1", 200,
		"{\"resources\":[{\"name\":\"posthogs\",\"kind\":\"PostHog\","
		"\"namespaced\":true}]}");
	struct env e;
	env_start(&e, s, NULL, NULL);
	struct kube_resource out;
	ck_assert_int_eq(kube_resolve(e.c, "apps/v1", "StatefulSet", &out, NULL), 0);
	ck_assert_str_eq(out.group, "apps");
	ck_assert_str_eq(out.version, "v1");
	ck_assert_str_eq(out.resource, "statefulsets");
	ck_assert(out.namespaced);
	ck_assert_int_eq(kube_resolve(e.c, "apps/v1", "StatefulSet", &out, NULL), 0);
	ck_assert_int_eq(count_requests(&e.f), 1); /* cached */
	ck_assert_int_eq(kube_resolve(e.c, "v1", "Namespace", &out, NULL), 0);
	ck_assert_str_eq(out.group, "");
	ck_assert(!out.namespaced);
	ck_assert_int_eq(kube_resolve(e.c, "posthog.com/v1alpha1", "PostHog", &out,
				      NULL), -ENOENT);
	/* Cached without the kind: a miss refreshes once and finds it. */
	ck_assert_int_eq(kube_resolve(e.c, "posthog.com/v1alpha1", "PostHog", &out,
				      NULL), 0);
	ck_assert_str_eq(out.resource, "posthogs");
	ck_assert_int_eq(count_requests(&e.f), 4);
	/* Unknown kind: one refresh, then -ENOENT. */
	ck_assert_int_eq(kube_resolve(e.c, "apps/v1", "Nope", &out, NULL), -ENOENT);
	ck_assert_int_eq(count_requests(&e.f), 5);
	/* Unknown group version. */
	ck_assert_int_eq(kube_resolve(e.c, "nope.io/v1", "X", &out, NULL), -ENOENT);
	ck_assert_int_eq(kube_resolve(e.c, "a/b/c", "X", &out, NULL), -EINVAL);
	kube_discovery_invalidate(e.c);
	ck_assert_int_eq(kube_resolve(e.c, "apps/v1", "StatefulSet", &out, NULL), 0);
	ck_assert_int_eq(count_requests(&e.f), 7);
	env_stop(&e);
}
END_TEST

/* ---- TLS and authentication ----------------------------------------------- */

static char *tls_script(const char *rule_extra_cn)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 200, "{\"kind\":\"ConfigMap\"}");
	if (rule_extra_cn)
		cJSON_AddStringToObject(r, "client_cn", rule_extra_cn);
	script_rule(s, "GET", NULL, 401, "{\"kind\":\"Status\",\"reason\":"
		    "\"Unauthorized\",\"code\":401}");
	char *p;
	cJSON *tls = cJSON_AddObjectToObject(s, "tls");
	ck_assert_int_ge(asprintf(&p, "%s/server.crt", pki), 0);
	cJSON_AddStringToObject(tls, "cert", p);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/server.key", pki), 0);
	cJSON_AddStringToObject(tls, "key", p);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/ca.crt", pki), 0);
	cJSON_AddStringToObject(tls, "client_ca", p);
	free(p);
	char *text = cJSON_Print(s);
	cJSON_Delete(s);
	return text;
}

static char *b64_file(const char *name)
{
	char *p, *text;
	size_t len;
	ck_assert_int_ge(asprintf(&p, "%s/%s", pki, name), 0);
	ck_assert_int_eq(kube_read_file(p, 1 << 20, &text, &len), 0);
	char *b = kube_base64_encode((unsigned char *)text, len);
	free(text);
	free(p);
	return b;
}

START_TEST(tls_client_certificate)
{
	char *dir = tmpdir_new();
	struct fixture f;
	char *script = tls_script("test-user");
	fixture_start(&f, dir, script, 1);
	free(script);

	/* Files, relative to the kubeconfig's directory (pki). */
	char server[96], *cluster, *kc;
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", f.port);
	kc = kubeconfig_text(server, "    certificate-authority: ca.crt\n",
			     "    client-certificate: client.crt\n"
			     "    client-key: client.key\n");
	char *path = write_file(pki, "kubeconfig", kc, 0600);
	free(kc);
	struct kube_config_options co = { .kubeconfig = path };
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_load(&co, &cfg), 0);
	struct kube_client_options o = { .qps = -1 };
	struct kube_client *c = NULL;
	ck_assert_int_eq(kube_client_new(cfg, &o, &c), 0);
	cJSON *out = NULL;
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", &out, NULL), 0);
	cJSON_Delete(out);
	kube_client_free(c);
	free(path);

	/* -data forms, and tls-server-name: "localhost" is not in the
	 * certificate, "kubernetes.test" is. */
	char *ca = b64_file("ca.crt"), *crt = b64_file("client.crt"),
	     *key = b64_file("client.key"), *user;
	snprintf(server, sizeof(server), "https://localhost:%d", f.port);
	ck_assert_int_ge(asprintf(&cluster,
		"    certificate-authority-data: %s\n"
		"    tls-server-name: kubernetes.test\n", ca), 0);
	ck_assert_int_ge(asprintf(&user, "    client-certificate-data: %s\n"
				  "    client-key-data: %s\n", crt, key), 0);
	kc = kubeconfig_text(server, cluster, user);
	c = client_from_yaml(kc, NULL);
	free(kc);
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", &out, NULL), 0);
	cJSON_Delete(out);
	kube_client_free(c);

	/* Without tls-server-name the name does not match. */
	free(cluster);
	ck_assert_int_ge(asprintf(&cluster, "    certificate-authority-data: %s\n",
				  ca), 0);
	kc = kubeconfig_text(server, cluster, user);
	struct kube_client_options fast = { .qps = -1, .retry_budget_ms = 1 };
	c = client_from_yaml(kc, &fast);
	free(kc);
	struct kube_status st;
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", &out, &st), -EKEYREJECTED);
	kube_client_free(c);

	/* Without a client certificate the server's rule does not match. */
	kc = kubeconfig_text(f.url, cluster, NULL);
	c = client_from_yaml(kc, &fast);
	free(kc);
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", &out, &st), -EACCES);
	kube_client_free(c);

	cJSON *reqs = fixture_requests(&f);
	ck_assert_str_eq(field(req(reqs, 0), "client_cn", NULL), "test-user");
	ck_assert_str_eq(field(req(reqs, 1), "client_cn", NULL), "test-user");
	cJSON_Delete(reqs);
	free(cluster);
	free(user);
	free(ca);
	free(crt);
	free(key);
	fixture_stop(&f);
	tmpdir_free(dir);
}
END_TEST

/*
 * The CA and the kubeconfig's client certificate are parsed once (tls.c)
 * and handed to each connection; what does not parse there goes to
 * libcurl as PEM, which refuses it as before. Files in pki; NULL: not
 * given; "junk": not PEM.
 */
static const struct tls_case {
	const char *name;
	const char *ca, *cert, *key;
	int want_new;              /* kube_tls_new() */
	bool has_ca, has_client;
	int want_get;              /* a GET against the fixture */
} tls_cases[] = {
	{ "CA and client certificate", "ca.crt", "client.crt", "client.key", 0, true, true, 0 },
	{ "a CA that did not sign the server", "client.crt", "client.crt", "client.key",
	  0, true, true, -EKEYREJECTED },
	{ "no client certificate", "ca.crt", NULL, NULL, 0, true, false, -EACCES },
	{ "a key that is not the certificate's", "ca.crt", "client.crt", "server.key",
	  0, true, false, -EKEYREJECTED },
	{ "CA data that is not PEM", "junk", "client.crt", "client.key", 0, false, true,
	  -EKEYREJECTED },
	{ "nothing usable", "junk", "client.crt", "junk", -EINVAL, false, false,
	  -EKEYREJECTED },
};

static void tls_blob(struct kube_blob *b, const char *name)
{
	char *p, *text;
	size_t len;

	*b = (struct kube_blob){ 0 };
	if (!name)
		return;
	if (!strcmp(name, "junk")) {
		kube_blob_set(b, "junk", 4);
		return;
	}
	ck_assert_int_ge(asprintf(&p, "%s/%s", pki, name), 0);
	ck_assert_int_eq(kube_read_file(p, 1 << 20, &text, &len), 0);
	kube_blob_set(b, text, len);
	free(text);
	free(p);
}

static char *tls_yaml_field(const char *field, const char *name)
{
	char *b64, *line;

	if (!name)
		return strdup("");
	if (!strcmp(name, "junk"))
		b64 = kube_base64_encode((const unsigned char *)"junk", 4);
	else
		b64 = b64_file(name);
	ck_assert_int_ge(asprintf(&line, "    %s: %s\n", field, b64), 0);
	free(b64);
	return line;
}

START_TEST(tls_material_parsed_once)
{
	const struct tls_case *tc = &tls_cases[_i];
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	bool openssl = v->ssl_version && !strncmp(v->ssl_version, "OpenSSL/", 8);
	struct kube_blob ca, cert, key;
	struct kube_tls *t = NULL;

	tls_blob(&ca, tc->ca);
	tls_blob(&cert, tc->cert);
	tls_blob(&key, tc->key);
	ck_assert_msg(kube_tls_new(&ca, &cert, &key, NULL, &t) ==
		      (openssl ? tc->want_new : -ENOTSUP), "%s", tc->name);
	ck_assert_msg(kube_tls_has_ca(t) == (openssl && tc->has_ca), "%s: CA", tc->name);
	ck_assert_msg(kube_tls_has_client(t) == (openssl && tc->has_client), "%s: client",
		      tc->name);
	kube_tls_free(t);
	kube_blob_clear(&ca);
	kube_blob_clear(&cert);
	kube_blob_clear(&key);

	/* The same material in a kubeconfig, against a server that wants
	 * the client certificate of test-user (else 401). */
	char *dir = tmpdir_new();
	struct fixture f;
	char *script = tls_script("test-user");
	fixture_start(&f, dir, script, 1);
	free(script);
	char server[96];
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", f.port);
	char *cluster = tls_yaml_field("certificate-authority-data", tc->ca);
	char *u1 = tls_yaml_field("client-certificate-data", tc->cert);
	char *u2 = tls_yaml_field("client-key-data", tc->key), *user;
	ck_assert_int_ge(asprintf(&user, "%s%s    token: unused\n", u1, u2), 0);
	char *kc = kubeconfig_text(server, cluster, user);
	struct kube_client_options fast = { .qps = -1, .retry_budget_ms = 1 };
	struct kube_client *c = client_from_yaml(kc, &fast);
	cJSON *out = NULL;
	struct kube_status st;
	/* Twice: the same outcome on the kept connection (or, after a
	 * refusal, on a new one through the same objects). */
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(kube_get(c, &cm, "ns1", "x", &out, &st) == tc->want_get,
			      "%s: GET %d", tc->name, i);
		cJSON_Delete(out);
		out = NULL;
	}
	kube_client_free(c);
	free(kc);

	/* Through an HTTPS proxy libcurl would run the callback for the
	 * proxy's TLS too: the blobs are used then. An HTTP proxy is fine. */
	static const struct { const char *proxy; bool parsed; } proxies[] = {
		{ "https://127.0.0.1:9", false }, { "HTTPS://127.0.0.1:9", false },
		{ "http://127.0.0.1:9", true },
	};
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++) {
		char *pc;
		ck_assert_int_ge(asprintf(&pc, "%s    proxy-url: %s\n", cluster,
					  proxies[i].proxy), 0);
		kc = kubeconfig_text(server, pc, user);
		c = client_from_yaml(kc, &fast);
		ck_assert_msg((c->tls != NULL) == (openssl && proxies[i].parsed &&
						   (tc->has_ca || tc->has_client)),
			      "%s: proxy %s", tc->name, proxies[i].proxy);
		kube_client_free(c);
		free(kc);
		free(pc);
	}
	free(user);
	free(u1);
	free(u2);
	free(cluster);
	fixture_stop(&f);
	tmpdir_free(dir);
}
END_TEST

START_TEST(basic_auth)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 200, "{}");
	/* admin:s3cret */
	cJSON_AddStringToObject(r, "auth", "Basic YWRtaW46czNjcmV0");
	script_rule(s, "GET", NULL, 401, NULL);
	struct env e;
	env_start(&e, s, NULL, "    username: admin\n    password: s3cret\n");
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), 0);
	env_stop(&e);
}
END_TEST

static const char plugin_sh[] =
	"#!/bin/sh\n"
	"d=$(dirname \"$0\")\n"
	"n=$(cat \"$d/count\" 2>/dev/null || echo 0); n=$((n+1))\n"
	"echo $n > \"$d/count\"\n"
	"printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
	"\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-%s\"}}' $n\n";

START_TEST(exec_reexec_on_401)
{
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 200, "{}");
	cJSON_AddStringToObject(r, "auth", "Bearer tok-2");
	script_rule(s, "GET", NULL, 401, "{\"kind\":\"Status\",\"code\":401,"
		    "\"reason\":\"Unauthorized\"}");
	struct env e;
	e.dir = tmpdir_new();
	fixture_start_script(&e.f, e.dir, s, 0);
	free(write_file(e.dir, "plugin.sh", plugin_sh, 0700));
	char *user, *kc;
	ck_assert_int_ge(asprintf(&user, "    exec:\n      apiVersion: "
				  "client.authentication.k8s.io/v1\n"
				  "      command: %s/plugin.sh\n", e.dir), 0);
	kc = kubeconfig_text(e.f.url, NULL, user);
	e.c = client_from_yaml(kc, NULL);
	free(kc);
	free(user);
	/* tok-1 is refused; the plugin runs again and tok-2 works. */
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), 0);
	ck_assert_uint_eq(e.c->cfg->exec_runs, 2);
	/* The accepted token is cached: no third run. */
	ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), 0);
	ck_assert_uint_eq(e.c->cfg->exec_runs, 2);
	cJSON *reqs = fixture_requests(&e.f);
	ck_assert_str_eq(field(req(reqs, 0), "headers", "authorization"),
			 "Bearer tok-1");
	ck_assert_str_eq(field(req(reqs, 1), "headers", "authorization"),
			 "Bearer tok-2");
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

START_TEST(incluster_rotation_on_401)
{
	char *dir = tmpdir_new();
	struct fixture f;
	cJSON *s = script_new();
	cJSON *r = script_rule(s, "GET", NULL, 200, "{}");
	cJSON_AddStringToObject(r, "auth", "Bearer token-B");
	script_rule(s, "GET", NULL, 401, NULL);
	char *p;
	cJSON *tls = cJSON_AddObjectToObject(s, "tls");
	ck_assert_int_ge(asprintf(&p, "%s/server.crt", pki), 0);
	cJSON_AddStringToObject(tls, "cert", p);
	free(p);
	ck_assert_int_ge(asprintf(&p, "%s/server.key", pki), 0);
	cJSON_AddStringToObject(tls, "key", p);
	free(p);
	fixture_start_script(&f, dir, s, 1);

	char *sa;
	ck_assert_int_ge(asprintf(&sa, "%s/sa", dir), 0);
	ck_assert_int_eq(mkdir(sa, 0700), 0);
	free(write_file(sa, "token", "token-A", 0600));
	char *ca, *text;
	size_t len;
	ck_assert_int_ge(asprintf(&ca, "%s/ca.crt", pki), 0);
	ck_assert_int_eq(kube_read_file(ca, 1 << 20, &text, &len), 0);
	free(write_file(sa, "ca.crt", text, 0600));
	free(text);
	free(ca);
	char port[16];
	snprintf(port, sizeof(port), "%d", f.port);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);
	struct kube_config *cfg = NULL;
	ck_assert_int_eq(kube_config_incluster(sa, NULL, &cfg), 0);
	struct kube_client *c = NULL;
	struct kube_client_options o = { .qps = -1, .retry_budget_ms = 1 };
	ck_assert_int_eq(kube_client_new(cfg, &o, &c), 0);
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", NULL, NULL), -EACCES);
	/* The kubelet rotates the token: the next 401 re-reads the file. */
	free(write_file(sa, "token", "token-B\n", 0600));
	ck_assert_int_eq(kube_get(c, &cm, "ns1", "x", NULL, NULL), 0);
	ck_assert_int_eq(count_requests(&f), 4);
	kube_client_free(c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(sa);
	fixture_stop(&f);
	tmpdir_free(dir);
}
END_TEST

/* ---- pool, threads, limiter, metrics -------------------------------------- */

struct worker {
	struct kube_client *c;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 15; i++) {
		cJSON *out = NULL;
		if (kube_get(w->c, &cm, "ns1", "x", &out, NULL) == 0)
			w->ok++;
		cJSON_Delete(out);
	}
	return NULL;
}

struct counter {
	pthread_mutex_t lock;
	int calls;
	int ok;
};

static void on_request(void *ud, const char *method, const char *host,
		       int code, double seconds)
{
	struct counter *k = ud;
	pthread_mutex_lock(&k->lock);
	k->calls++;
	if (code == 200 && !strcmp(method, "GET") && !strcmp(host, "127.0.0.1") &&
	    seconds >= 0)
		k->ok++;
	pthread_mutex_unlock(&k->lock);
}

START_TEST(threads_share_pool)
{
	cJSON *s = script_new();
	script_rule(s, "GET", NULL, 200, "{\"kind\":\"ConfigMap\"}");
	struct counter k = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
	struct kube_client_options o = { .qps = -1, .on_request = on_request,
					 .on_request_userdata = &k };
	struct env e;
	env_start(&e, s, &o, NULL);
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ e.c, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].ok, 15);
	}
	ck_assert_int_eq(k.calls, 60);
	ck_assert_int_eq(k.ok, 60);
	/* Keep-alive: 60 requests over at most one connection per thread. */
	cJSON *reqs = fixture_requests(&e.f), *r;
	int ports[64], nports = 0;
	cJSON_ArrayForEach(r, reqs) {
		int p = cJSON_GetObjectItem(r, "peer")->valueint, seen = 0;
		for (int i = 0; i < nports; i++)
			seen |= ports[i] == p;
		if (!seen && nports < 64)
			ports[nports++] = p;
	}
	ck_assert_int_le(nports, 4);
	ck_assert_uint_le(kube_client_pool_size(e.c), 4);
	cJSON_Delete(reqs);
	env_stop(&e);
}
END_TEST

START_TEST(rate_limited)
{
	cJSON *s = script_new();
	script_rule(s, "GET", NULL, 200, "{}");
	struct kube_client_options o = { .qps = 10, .burst = 1 };
	struct env e;
	env_start(&e, s, &o, NULL);
	uint64_t t0 = kube_now_ms();
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(kube_get(e.c, &cm, "ns1", "x", NULL, NULL), 0);
	/* One free token, then three at 100 ms each. */
	ck_assert_uint_ge(kube_now_ms() - t0, 290);
	env_stop(&e);
}
END_TEST

static void setup_pki(void)
{
	pki = tmpdir_new();
	pki_make(pki);
}

static void teardown_pki(void)
{
	tmpdir_free(pki);
	pki = NULL;
}

int main(void)
{
	/* Loopback only: a proxy from the environment would intercept. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	Suite *s = suite_create("kube-http");
	TCase *tc = tcase_create("http");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, setup_pki, teardown_pki);
	tcase_add_test(tc, verbs);
	tcase_add_loop_test(tc, error_mapping, 0,
			    sizeof(map_cases) / sizeof(map_cases[0]));
	tcase_add_test(tc, retry_after_honoured);
	tcase_add_test(tc, retry_5xx);
	tcase_add_test(tc, retry_budget_bounds);
	tcase_add_test(tc, bounded_get);
	tcase_add_test(tc, connection_failures);
	tcase_add_test(tc, pagination);
	tcase_add_test(tc, pagination_expired_restarts);
	tcase_add_test(tc, body_caps);
	tcase_add_test(tc, discovery);
	tcase_add_test(tc, tls_client_certificate);
	tcase_add_loop_test(tc, tls_material_parsed_once, 0,
			    sizeof(tls_cases) / sizeof(tls_cases[0]));
	tcase_add_test(tc, basic_auth);
	tcase_add_test(tc, exec_reexec_on_401);
	tcase_add_test(tc, incluster_rotation_on_401);
	tcase_add_test(tc, threads_share_pool);
	tcase_add_test(tc, rate_limited);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
