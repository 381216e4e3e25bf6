#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Input text, and a fragment the redacted output must (not) contain. */
static const struct {
	const char *in;
	const char *must_have;
	const char *must_not_have;
} redact_cases[] = {
	{"Authorization: Bearer abc.def.ghi", "Bearer [REDACTED]", "abc.def"},
	{"auth Basic dXNlcjpwYXNz done", "Basic [REDACTED] done", "dXNlcjpwYXNz"},
	{"password=hunter2&user=bob", "user=bob", "hunter2"},
	{"{\"token\":\"s3cr3t\",\"x\":1}", "\"x\":1", "s3cr3t"},
	{"client-key-data: LS0tLS1CRUdJTg==", "client-key-data: [REDACTED]", "LS0tLS1CRUdJTg"},
	{"X-ClickHouse-Key: pw123", "[REDACTED]", "pw123"},
	{"key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- after",
	 "key [REDACTED] after", "MIIE"},
	{"{\"kind\":\"Secret\",\"data\":{\"a\":\"c2VjcmV0\"},\"type\":\"Opaque\"}",
	 "\"type\":\"Opaque\"", "c2VjcmV0"},
	{"tokenFile: /var/run/token", "tokenFile: /var/run/token", "[REDACTED]"},
	{"Secret default/ch-admin not found", "Secret default/ch-admin not found", "[REDACTED]"},
	{"-----BEGIN CERTIFICATE-----\nMIIC\n", "MIIC", "[REDACTED]"},
};

START_TEST(test_redact)
{
	char out[512];

	log_redact(redact_cases[_i].in, out, sizeof(out));
	ck_assert_msg(strstr(out, redact_cases[_i].must_have), "case %d: %s", _i, out);
	ck_assert_msg(!strstr(out, redact_cases[_i].must_not_have), "case %d: %s", _i, out);
}
END_TEST

START_TEST(test_redact_truncates)
{
	char out[8];

	ck_assert_uint_eq(log_redact("0123456789", out, sizeof(out)), 7);
	ck_assert_str_eq(out, "0123456");
}
END_TEST

/* Writes one record through a pipe and returns what came out. */
static char *capture(enum log_level min, enum log_format fmt, enum log_level lvl,
		     const struct log_fields *f, const char *msg)
{
	int fds[2];
	struct log *lg;
	char *out = calloc(1, LOG_MAX_LINE * 2);
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(log_new(fds[1], min, fmt, &lg), 0);
	log_write(lg, lvl, f, "%s", msg);
	close(fds[1]);
	n = read(fds[0], out, LOG_MAX_LINE * 2 - 1);
	close(fds[0]);
	log_free(lg);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

START_TEST(test_json_record)
{
	struct log_fields f = {"posthog", "ns1", "ph"};
	char *out = capture(LOG_INFO, LOG_FORMAT_JSON, LOG_WARN, &f,
			    "quote \" newline \n password=x");
	cJSON *rec;

	ck_assert_int_eq(out[strlen(out) - 1], '\n');
	rec = cJSON_Parse(out);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(cJSON_GetObjectItem(rec, "level")->valuestring, "warn");
	ck_assert_str_eq(cJSON_GetObjectItem(rec, "controller")->valuestring, "posthog");
	ck_assert_str_eq(cJSON_GetObjectItem(rec, "namespace")->valuestring, "ns1");
	ck_assert_str_eq(cJSON_GetObjectItem(rec, "name")->valuestring, "ph");
	ck_assert_str_eq(cJSON_GetObjectItem(rec, "msg")->valuestring,
			 "quote \" newline \n password=[REDACTED]");
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(rec, "ts"));
	cJSON_Delete(rec);
	free(out);
}
END_TEST

START_TEST(test_text_record_and_level)
{
	struct log_fields f = {"posthog", "ns1", "ph"};
	char *out = capture(LOG_INFO, LOG_FORMAT_TEXT, LOG_ERROR, &f, "boom");

	ck_assert_ptr_nonnull(strstr(out, " ERROR posthog ns1/ph: boom\n"));
	free(out);
	out = capture(LOG_INFO, LOG_FORMAT_TEXT, LOG_DEBUG, &f, "hidden");
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

START_TEST(test_long_record_is_cut)
{
	char *msg = malloc(LOG_MAX_LINE * 2);
	char *out;

	memset(msg, 'a', LOG_MAX_LINE * 2 - 1);
	msg[LOG_MAX_LINE * 2 - 1] = '\0';
	out = capture(LOG_DEBUG, LOG_FORMAT_TEXT, LOG_INFO, NULL, msg);
	ck_assert_uint_le(strlen(out), LOG_MAX_LINE + 8);
	ck_assert_ptr_nonnull(strstr(out, "...\n"));
	free(out);
	free(msg);
}
END_TEST

static const struct {
	const char *s;
	int ok;
	enum log_level level;
} level_cases[] = {
	{"debug", 0, LOG_DEBUG}, {"INFO", 0, LOG_INFO}, {"warning", 0, LOG_WARN},
	{"error", 0, LOG_ERROR}, {"verbose", -1, 0}, {"", -1, 0},
};

START_TEST(test_parse_level)
{
	enum log_level l = 99;
	int r = log_parse_level(level_cases[_i].s, &l);

	if (level_cases[_i].ok == 0) {
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(l, level_cases[_i].level);
	} else {
		ck_assert_int_lt(r, 0);
		ck_assert_int_eq(l, 99);
	}
}
END_TEST

START_TEST(test_null_logger)
{
	log_write(NULL, LOG_ERROR, NULL, "dropped %d", 1);
	ck_assert(!log_enabled(NULL, LOG_ERROR));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_redact, 0, sizeof(redact_cases) / sizeof(*redact_cases));
	tcase_add_test(tc, test_redact_truncates);
	tcase_add_test(tc, test_json_record);
	tcase_add_test(tc, test_text_record_and_level);
	tcase_add_test(tc, test_long_record_is_cut);
	tcase_add_loop_test(tc, test_parse_level, 0, sizeof(level_cases) / sizeof(*level_cases));
	tcase_add_test(tc, test_null_logger);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
