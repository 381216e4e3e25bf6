/* Pure functions: error mapping, retry policy, rate limiter, helpers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

static const struct {
	int code;
	const char *reason;
	int err;
} http_cases[] = {
	{ 200, NULL, 0 },
	{ 201, NULL, 0 },
	{ 400, "BadRequest", -EBADMSG },
	{ 401, "Unauthorized", -EACCES },
	{ 403, "Forbidden", -EPERM },
	{ 404, "NotFound", -ENOENT },
	{ 405, "MethodNotAllowed", -EOPNOTSUPP },
	{ 409, "AlreadyExists", -EEXIST },
	{ 409, "Conflict", KUBE_ECONFLICT },
	{ 409, NULL, KUBE_ECONFLICT },
	{ 410, "Expired", KUBE_EGONE },
	{ 413, "RequestEntityTooLarge", -E2BIG },
	{ 415, "UnsupportedMediaType", -EPROTO },
	{ 422, "Invalid", -EINVAL },
	{ 429, "TooManyRequests", -EBUSY },
	{ 500, "InternalError", -EIO },
	{ 502, NULL, -EIO },
	{ 503, "ServiceUnavailable", -EIO },
	{ 504, "Timeout", -ETIMEDOUT },
	{ 418, NULL, -EBADMSG },
	{ 302, NULL, -EPROTO },
};

START_TEST(errno_from_http)
{
	ck_assert_int_eq(kube_errno_from_http(http_cases[_i].code,
					      http_cases[_i].reason),
			 http_cases[_i].err);
	ck_assert_ptr_nonnull(kube_strerror(http_cases[_i].err));
}
END_TEST

START_TEST(status_from_body)
{
	static const char body[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
		"\"message\":\"pods \\\"x\\\" already exists\","
		"\"reason\":\"AlreadyExists\",\"code\":409}";
	struct kube_status st;
	ck_assert_int_eq(kube_status_from_response(409, body, strlen(body), &st),
			 -EEXIST);
	ck_assert_int_eq(st.code, 409);
	ck_assert_str_eq(st.reason, "AlreadyExists");
	ck_assert_str_eq(st.message, "pods \"x\" already exists");

	/* Not a Status: the body becomes the message, truncated to fit. */
	char big[3000];
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(kube_status_from_response(502, big, sizeof(big), &st),
			 -EIO);
	ck_assert_str_eq(st.reason, "");
	ck_assert_uint_eq(strlen(st.message), sizeof(st.message) - 1);
	/* NULL st is accepted. */
	ck_assert_int_eq(kube_status_from_response(409, body, strlen(body), NULL),
			 -EEXIST);
}
END_TEST

/* errno values that stand for HTTP statuses read as the status means, not
 * as libc's text for the errno ("Operation not permitted", "Device or
 * resource busy", "Stale file handle"); other errno values keep libc's. */
static const struct {
	int err;
	const char *text;
	bool http; /* stands for an HTTP status */
} meaning_cases[] = {
	{-EPERM, "forbidden", true},
	{-EACCES, "unauthorized", true},
	{-EBUSY, "too many requests", true},
	{KUBE_ECONFLICT, "conflict: stale resourceVersion or apply conflict", true},
	{KUBE_EGONE, "gone: resourceVersion too old, relist", true},
	{-EIO, "server error", true},
	{-EINVAL, "invalid", true},
	{-EREMOTEIO, "Remote I/O error", false},
	{-ENOLCK, "No locks available", false},
};

START_TEST(strerror_meaning)
{
	ck_assert_str_eq(kube_strerror(meaning_cases[_i].err), meaning_cases[_i].text);
	if (meaning_cases[_i].http)
		ck_assert_str_ne(kube_strerror(meaning_cases[_i].err),
				 strerror(-meaning_cases[_i].err));
}
END_TEST

START_TEST(strerror_distinct)
{
	ck_assert_str_ne(kube_strerror(KUBE_ECONFLICT), kube_strerror(-EEXIST));
	ck_assert_str_ne(kube_strerror(KUBE_EGONE), kube_strerror(-ENOENT));
	ck_assert_str_eq(kube_strerror(-12345), "unknown error");
}
END_TEST

static const struct {
	const char *method;
	int code;
	int err;
	bool sent;
	long retry_after;
	bool retry;
} retry_cases[] = {
	/* 429: never processed, any verb. */
	{ "POST", 429, 0, true, -1, true },
	{ "GET", 429, 0, true, 3, true },
	/* 5xx with Retry-After: any verb (client-go checkWait). */
	{ "POST", 503, 0, true, 1, true },
	{ "PATCH", 500, 0, true, 0, true },
	/* 5xx without Retry-After: reads only. */
	{ "GET", 500, 0, true, -1, true },
	{ "GET", 502, 0, true, -1, true },
	{ "GET", 503, 0, true, -1, true },
	{ "GET", 504, 0, true, -1, true },
	{ "POST", 503, 0, true, -1, false },
	{ "PUT", 500, 0, true, -1, false },
	{ "DELETE", 504, 0, true, -1, false },
	{ "GET", 501, 0, true, -1, false },
	/* Other answers are final. */
	{ "GET", 404, 0, true, -1, false },
	{ "GET", 409, 0, true, 1, false },
	{ "GET", 401, 0, true, -1, false },
	/* Never connected: safe for any verb. */
	{ "POST", 0, -ECONNREFUSED, false, -1, true },
	{ "PATCH", 0, -EHOSTUNREACH, false, -1, true },
	{ "POST", 0, -ECONNRESET, false, -1, true },
	/* Lost after sending: GET only. */
	{ "GET", 0, -ECONNRESET, true, -1, true },
	{ "POST", 0, -ECONNRESET, true, -1, false },
	{ "GET", 0, -ETIMEDOUT, true, -1, true },
	{ "PUT", 0, -ETIMEDOUT, true, -1, false },
	/* Not transient. */
	{ "GET", 0, -EFBIG, true, -1, false },
	{ "GET", 0, -ECANCELED, true, -1, false },
	{ "GET", 0, -EKEYREJECTED, false, -1, false },
};

START_TEST(retry_policy)
{
	struct kube_attempt a = {
		.method = retry_cases[_i].method,
		.code = retry_cases[_i].code,
		.err = retry_cases[_i].err,
		.sent = retry_cases[_i].sent,
		.retry_after_s = retry_cases[_i].retry_after,
	};
	ck_assert_msg(kube_retry_allowed(&a) == retry_cases[_i].retry,
		      "case %d: %s %d %d", _i, a.method, a.code, a.err);
}
END_TEST

START_TEST(backoff_grows_with_jitter)
{
	uint64_t rng = 42;
	for (unsigned n = 0; n < 12; n++) {
		uint64_t full = 100u << (n < 7 ? n : 7);
		if (full > 5000)
			full = 5000;
		for (int k = 0; k < 50; k++) {
			uint64_t d = kube_backoff_ms(n, 100, 5000, &rng);
			ck_assert_uint_ge(d, full / 2);
			ck_assert_uint_le(d, full);
		}
	}
	/* Jitter: not every draw is the same. */
	uint64_t a = kube_backoff_ms(5, 100, 5000, &rng);
	bool differs = false;
	for (int k = 0; k < 20 && !differs; k++)
		differs = kube_backoff_ms(5, 100, 5000, &rng) != a;
	ck_assert(differs);
}
END_TEST

START_TEST(retry_delay_budget)
{
	uint64_t rng = 1;
	struct kube_attempt a = { .method = "GET", .code = 503,
				  .retry_after_s = 2 };
	/* Retry-After replaces the computed wait. */
	ck_assert_int_eq(kube_retry_delay(&a, 0, 0, 30000, 100, 1000, &rng), 2000);
	/* ... but never beyond the budget. */
	ck_assert_int_eq(kube_retry_delay(&a, 0, 29000, 30000, 100, 1000, &rng),
			 -1);
	a.retry_after_s = -1;
	int64_t d = kube_retry_delay(&a, 3, 0, 30000, 100, 1000, &rng);
	ck_assert_int_ge(d, 400);
	ck_assert_int_le(d, 800);
	a.method = "POST";
	ck_assert_int_eq(kube_retry_delay(&a, 0, 0, 30000, 100, 1000, &rng), -1);
}
END_TEST

static const struct {
	const char *in;
	long out;
} ra_cases[] = {
	{ " 3\r\n", 3 }, { "0", 0 }, { "120 ", 120 }, { "", -1 },
	{ "-1", -1 }, { "1.5", -1 }, { "Wed, 21 Oct 2015 07:28:00 GMT", -1 },
	{ "9999999999", -1 },
};

START_TEST(retry_after_parse)
{
	ck_assert_int_eq(kube_parse_retry_after(ra_cases[_i].in,
						strlen(ra_cases[_i].in)),
			 ra_cases[_i].out);
}
END_TEST

START_TEST(ratelimit_bucket)
{
	struct kube_ratelimit rl;
	kube_ratelimit_init(&rl, 10, 3);
	/* The burst is free. */
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1000), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1000), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1000), 0);
	/* Then one token per 100 ms, queued behind each other. */
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1000), 100);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1000), 200);
	/* Time refills, capped at the burst. */
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 1300), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 10000), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 10000), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 10000), 0);
	ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 10000), 100);
	kube_ratelimit_destroy(&rl);

	kube_ratelimit_init(&rl, -1, 0); /* disabled */
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(kube_ratelimit_reserve(&rl, 5), 0);
	kube_ratelimit_destroy(&rl);
}
END_TEST

static const struct {
	const char *in;
	const char *out; /* NULL = invalid */
} b64_cases[] = {
	{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
	{ "Zm9vYg", "foob" }, { "Zm9v\nYmFy", "foobar" }, { "Zm9v!", NULL },
	{ "Z", NULL }, { "Zg=a", NULL }, { "Zg===", NULL },
};

START_TEST(base64)
{
	unsigned char *out = NULL;
	size_t len = 0;
	int err = kube_base64_decode(b64_cases[_i].in, strlen(b64_cases[_i].in),
				     &out, &len);
	if (!b64_cases[_i].out) {
		ck_assert_int_eq(err, -EINVAL);
		return;
	}
	ck_assert_int_eq(err, 0);
	ck_assert_str_eq((char *)out, b64_cases[_i].out);
	char *back = kube_base64_encode(out, len);
	unsigned char *again;
	size_t len2;
	ck_assert_int_eq(kube_base64_decode(back, strlen(back), &again, &len2), 0);
	ck_assert_mem_eq(again, out, len);
	free(again);
	free(back);
	free(out);
}
END_TEST

static const struct {
	const char *in;
	time_t out; /* -1 = invalid */
} ts_cases[] = {
	{ "1970-01-01T00:00:00Z", 0 },
	{ "2024-01-02T03:04:05Z", 1704164645 },
	{ "2024-01-02T03:04:05.123456Z", 1704164645 },
	{ "2024-01-02T05:04:05+02:00", 1704164645 },
	{ "2024-01-02T01:04:05-02:00", 1704164645 },
	{ "2024-01-02 03:04:05Z", -1 },
	{ "2024-01-02T03:04:05", -1 },
	{ "2024-13-02T03:04:05Z", -1 },
	{ "2024-01-02T03:04:05Zjunk", -1 },
	{ "", -1 },
};

START_TEST(rfc3339)
{
	time_t t = 0;
	int err = kube_parse_rfc3339(ts_cases[_i].in, &t);
	if (ts_cases[_i].out == -1) {
		ck_assert_int_eq(err, -EINVAL);
	} else {
		ck_assert_int_eq(err, 0);
		ck_assert_int_eq(t, ts_cases[_i].out);
	}
}
END_TEST

START_TEST(query_and_paths)
{
	struct buf b;
	buf_init(&b, 1024);
	ck_assert_int_eq(buf_append_str(&b, "/api/v1/pods"), 0);
	ck_assert_int_eq(kube_query_add(&b, "labelSelector", "app in (a,b),!x"), 0);
	ck_assert_int_eq(kube_query_add(&b, "limit", "5"), 0);
	ck_assert_str_eq(buf_str(&b), "/api/v1/pods?labelSelector=app%20in%20"
				      "%28a%2Cb%29%2C%21x&limit=5");
	buf_reset(&b);

	struct kube_resource sts = { "apps", "v1", "statefulsets",
				     "StatefulSet", true };
	struct kube_resource ns = { "", "v1", "namespaces", "Namespace", false };
	ck_assert_int_eq(kube_path(&b, &sts, "ns1", "web", "status"), 0);
	ck_assert_str_eq(buf_str(&b),
			 "/apis/apps/v1/namespaces/ns1/statefulsets/web/status");
	buf_reset(&b);
	ck_assert_int_eq(kube_path(&b, &sts, NULL, NULL, NULL), 0);
	ck_assert_str_eq(buf_str(&b), "/apis/apps/v1/statefulsets");
	buf_reset(&b);
	ck_assert_int_eq(kube_path(&b, &ns, "ignored", "kube-system", NULL), 0);
	ck_assert_str_eq(buf_str(&b), "/api/v1/namespaces/kube-system");
	buf_reset(&b);
	ck_assert_int_eq(kube_path(&b, &sts, "ns1", "../x", NULL), -EINVAL);
	ck_assert_int_eq(kube_path(&b, &sts, "a/b", "x", NULL), -EINVAL);
	ck_assert_int_eq(kube_path(&b, &sts, "ns", "..", NULL), -EINVAL);
	buf_free(&b);
}
END_TEST

/* Upstream's canonical forms (k8s.io/apimachinery/pkg/api/resource,
 * quantity_test.go and what kube-apiserver stores; e2e/conformance checks
 * the same table against the real server). */
static const struct {
	const char *in, *out;
	int rc;
} quantity_cases[] = {
	{"1.5", "1500m", 0}, {"1024Mi", "1Gi", 0}, {"1000m", "1", 0}, {"1", "1", 0},
	{"2000", "2k", 0}, {"1500", "1500", 0}, {"0.5Gi", "512Mi", 0},
	{"1.5Gi", "1536Mi", 0}, {"100M", "100M", 0}, {"1e3", "1e3", 0},
	{"1.5e3", "1500", 0}, {"1e-3", "1e-3", 0}, {"512Ki", "512Ki", 0},
	{"1023Mi", "1023Mi", 0}, {"1000Ki", "1000Ki", 0}, {"512", "512", 0},
	{"0.1", "100m", 0}, {"100m", "100m", 0}, {"0", "0", 0}, {"0Gi", "0", 0},
	{"-1.5", "-1500m", 0}, {"+2", "2", 0}, {"1.0000000001", "1000000001n", 0},
	{"1.5n", "2n", 0}, {"0.5Ki", "512", 0}, {"1.5Ki", "1536", 0},
	{"10Gi", "10Gi", 0}, {"4096Mi", "4Gi", 0}, {"0.25", "250m", 0},
	{"1Ei", "1Ei", 0}, {"2E", "2E", 0}, {"00.50", "500m", 0},
	{"", NULL, -EINVAL}, {"abc", NULL, -EINVAL}, {"1.2.3", NULL, -EINVAL},
	{"1Xi", NULL, -EINVAL}, {"1 Gi", NULL, -EINVAL}, {".", NULL, -EINVAL},
	{"1e", NULL, -EINVAL}, {"1KiB", NULL, -EINVAL}, {"1K", NULL, -EINVAL},
	{"99999999999999999999999999999999999999999", NULL, -ERANGE},
};

START_TEST(quantity_canonical)
{
	char out[64] = "";
	int rc = kube_quantity_canonical(quantity_cases[_i].in, out, sizeof(out));

	ck_assert_msg(rc == quantity_cases[_i].rc, "%s: rc %d", quantity_cases[_i].in, rc);
	if (!rc)
		ck_assert_msg(!strcmp(out, quantity_cases[_i].out), "%s: got %s, want %s",
			      quantity_cases[_i].in, out, quantity_cases[_i].out);
}
END_TEST

static const struct {
	const char *pod;
	bool ready;
} pod_cases[] = {
	{"{\"status\":{\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\"},"
	 "{\"type\":\"Ready\",\"status\":\"True\"}]}}", true},
	{"{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}", false},
	{"{\"status\":{\"conditions\":[{\"type\":\"ContainersReady\",\"status\":\"True\"}]}}", false},
	{"{\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}", false},
	{"{\"status\":{}}", false},
	{"{}", false},
};

START_TEST(pod_ready)
{
	cJSON *pod = cJSON_Parse(pod_cases[_i].pod);

	ck_assert_ptr_nonnull(pod);
	ck_assert_int_eq(kube_pod_ready(pod), pod_cases[_i].ready);
	cJSON_Delete(pod);
}
END_TEST

START_TEST(list_find)
{
	cJSON *l = cJSON_Parse("{\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{}},"
			       "{\"metadata\":{\"name\":\"b\",\"uid\":\"u\"}}]}");

	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(kube_list_find(l, "b"), "metadata"),
					     "uid")->valuestring, "u");
	ck_assert_ptr_null(kube_list_find(l, "c"));
	ck_assert_ptr_null(kube_list_find(l, NULL));
	ck_assert_ptr_null(kube_list_find(NULL, "a"));
	cJSON_Delete(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kube-unit");
	TCase *tc = tcase_create("errors");
	tcase_add_loop_test(tc, errno_from_http, 0,
			    sizeof(http_cases) / sizeof(http_cases[0]));
	tcase_add_test(tc, status_from_body);
	tcase_add_test(tc, strerror_distinct);
	tcase_add_loop_test(tc, strerror_meaning, 0,
			    sizeof(meaning_cases) / sizeof(meaning_cases[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("retry");
	tcase_add_loop_test(tc, retry_policy, 0,
			    sizeof(retry_cases) / sizeof(retry_cases[0]));
	tcase_add_test(tc, backoff_grows_with_jitter);
	tcase_add_test(tc, retry_delay_budget);
	tcase_add_loop_test(tc, retry_after_parse, 0,
			    sizeof(ra_cases) / sizeof(ra_cases[0]));
	tcase_add_test(tc, ratelimit_bucket);
	suite_add_tcase(s, tc);
	tc = tcase_create("helpers");
	tcase_add_loop_test(tc, base64, 0, sizeof(b64_cases) / sizeof(b64_cases[0]));
	tcase_add_loop_test(tc, rfc3339, 0, sizeof(ts_cases) / sizeof(ts_cases[0]));
	tcase_add_test(tc, query_and_paths);
	tcase_add_loop_test(tc, pod_ready, 0, sizeof(pod_cases) / sizeof(pod_cases[0]));
	tcase_add_test(tc, list_find);
	tcase_add_loop_test(tc, quantity_canonical, 0,
			    sizeof(quantity_cases) / sizeof(quantity_cases[0]));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
