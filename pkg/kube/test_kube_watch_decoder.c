/* Watch stream framing and event dispatch, without a network. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube-private.h"

static const char stream[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"name\":\"a\",\"resourceVersion\":\"10\"},\"spec\":{\"x\":\"}{\\\"\\\\\"}}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"name\":\"a\",\"resourceVersion\":\"11\"},\"data\":[1,{\"a\":[]}]}}\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"resourceVersion\":\"15\"}}}\n"
	"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	"{\"name\":\"a\",\"resourceVersion\":\"16\"}}}\n";

struct seen {
	int n;
	enum kube_event_type types[8];
	char names[8][16];
	char rv[KUBE_MAX_RV];
	int stop_after;
	struct kube_status st;
	int last_err;
};

static int on_event(void *ud, enum kube_event_type t, cJSON *obj)
{
	struct seen *s = ud;
	const cJSON *md = cJSON_GetObjectItem(obj, "metadata");
	const cJSON *name = cJSON_GetObjectItem(md, "name");
	if (s->n < 8) {
		s->types[s->n] = t;
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
			 cJSON_IsString(name) ? name->valuestring : "");
	}
	s->n++;
	cJSON_Delete(obj);
	return s->stop_after && s->n >= s->stop_after ? 77 : 0;
}

static int on_object(void *ud, cJSON *event)
{
	struct seen *s = ud;
	return kube_watch_dispatch(event, on_event, s, s->rv, &s->st);
}

static void check_stream(const struct seen *s)
{
	ck_assert_int_eq(s->n, 4);
	ck_assert_int_eq(s->types[0], KUBE_EVENT_ADDED);
	ck_assert_int_eq(s->types[1], KUBE_EVENT_MODIFIED);
	ck_assert_int_eq(s->types[2], KUBE_EVENT_BOOKMARK);
	ck_assert_int_eq(s->types[3], KUBE_EVENT_DELETED);
	ck_assert_str_eq(s->names[0], "a");
	ck_assert_str_eq(s->names[2], "");
	ck_assert_str_eq(s->rv, "16");
}

/* Chunk sizes 1 (byte by byte), 2, 3, 7, 64 and the whole stream. */
static const size_t chunk_sizes[] = { 1, 2, 3, 7, 64, sizeof(stream) };

START_TEST(split_fixed)
{
	struct seen s = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, 4096, on_object, &s);
	size_t step = chunk_sizes[_i], len = sizeof(stream) - 1;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		ck_assert_int_eq(kube_wdec_feed(&d, stream + off, n), 0);
	}
	ck_assert_int_eq(kube_wdec_finish(&d), 0);
	kube_wdec_free(&d);
	check_stream(&s);
}
END_TEST

START_TEST(split_random)
{
	/* Deterministic pseudo-random boundaries, many seeds. */
	uint64_t x = 0x1234 + (uint64_t)_i * 7919;
	struct seen s = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, 4096, on_object, &s);
	size_t len = sizeof(stream) - 1;
	for (size_t off = 0; off < len;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t n = 1 + x % 40;
		if (n > len - off)
			n = len - off;
		ck_assert_int_eq(kube_wdec_feed(&d, stream + off, n), 0);
		off += n;
	}
	ck_assert_int_eq(kube_wdec_finish(&d), 0);
	kube_wdec_free(&d);
	check_stream(&s);
}
END_TEST

START_TEST(concatenated_and_whitespace)
{
	static const char text[] =
		"  \r\n{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\","
		"\"resourceVersion\":\"1\"}}}{\"type\":\"ADDED\",\"object\":"
		"{\"metadata\":{\"name\":\"y\",\"resourceVersion\":\"2\"}}}\n\n";
	struct seen s = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, 4096, on_object, &s);
	ck_assert_int_eq(kube_wdec_feed(&d, text, sizeof(text) - 1), 0);
	ck_assert_int_eq(kube_wdec_finish(&d), 0);
	kube_wdec_free(&d);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.names[1], "y");
	ck_assert_str_eq(s.rv, "2");
}
END_TEST

static const struct {
	const char *text;
	size_t cap;
	int feed_err;
	int finish_err;
} bad_cases[] = {
	/* An event over the cap, even when fed byte by byte. */
	{ "{\"type\":\"ADDED\",\"object\":{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxx\"}}\n",
	  32, -EFBIG, 0 },
	/* Not an object at top level. */
	{ "[1,2]\n", 4096, -EBADMSG, 0 },
	{ "garbage", 4096, -EBADMSG, 0 },
	/* Balanced but not JSON. */
	{ "{\"type\":ADDED}", 4096, -EBADMSG, 0 },
	/* Unknown event type and missing object. */
	{ "{\"type\":\"WHAT\",\"object\":{}}", 4096, -EBADMSG, 0 },
	{ "{\"type\":\"ADDED\"}", 4096, -EBADMSG, 0 },
	/* Truncated at end of stream. */
	{ "{\"type\":\"ADDED\",\"object\":{", 4096, 0, -EBADMSG },
	/* ERROR events: 410 means relist; others map like HTTP. */
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
	  "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}",
	  4096, KUBE_EGONE, 0 },
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
	  "\"reason\":\"Expired\",\"message\":\"no code\"}}", 4096, KUBE_EGONE, 0 },
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
	  "\"message\":\"etcd\"}}", 4096, -EIO, 0 },
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":403,"
	  "\"reason\":\"Forbidden\"}}", 4096, -EPERM, 0 },
};

START_TEST(bad_streams)
{
	struct seen s = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, bad_cases[_i].cap, on_object, &s);
	const char *t = bad_cases[_i].text;
	int err = 0;
	for (size_t k = 0; t[k] && !err; k++)
		err = kube_wdec_feed(&d, t + k, 1);
	ck_assert_int_eq(err, bad_cases[_i].feed_err);
	if (!err)
		ck_assert_int_eq(kube_wdec_finish(&d), bad_cases[_i].finish_err);
	kube_wdec_free(&d);
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(error_status_kept)
{
	static const char t[] =
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		"\"reason\":\"Expired\",\"message\":\"too old resource version: 1 (5)\"}}";
	struct seen s = { 0 };
	struct kube_wdec d;
	kube_wdec_init(&d, 4096, on_object, &s);
	ck_assert_int_eq(kube_wdec_feed(&d, t, sizeof(t) - 1), KUBE_EGONE);
	kube_wdec_free(&d);
	ck_assert_int_eq(s.st.code, 410);
	ck_assert_str_eq(s.st.reason, "Expired");
	ck_assert_str_eq(s.st.message, "too old resource version: 1 (5)");
}
END_TEST

START_TEST(callback_stops)
{
	struct seen s = { .stop_after = 2 };
	struct kube_wdec d;
	kube_wdec_init(&d, 4096, on_object, &s);
	ck_assert_int_eq(kube_wdec_feed(&d, stream, sizeof(stream) - 1), 77);
	kube_wdec_free(&d);
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.rv, "11");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kube-watch-decoder");
	TCase *tc = tcase_create("framing");
	tcase_add_loop_test(tc, split_fixed, 0,
			    sizeof(chunk_sizes) / sizeof(chunk_sizes[0]));
	tcase_add_loop_test(tc, split_random, 0, 50);
	tcase_add_test(tc, concatenated_and_whitespace);
	tcase_add_loop_test(tc, bad_streams, 0,
			    sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, error_status_kept);
	tcase_add_test(tc, callback_stops);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
