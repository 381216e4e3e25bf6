/* Unit tests of the s3 module's pure parts: key encoding, the XML reader,
 * error messages and the status mapping. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "s3-private.h"

static const struct { const char *in; int slash; const char *want; } enc[] = {
	{ "parts/0/posthog/events/1_1_1_0.ab/x.bin", 1, "parts/0/posthog/events/1_1_1_0.ab/x.bin" },
	{ "a b/c", 1, "a%20b/c" },
	{ "a/b", 0, "a%2Fb" },
	{ "t%2Einner", 1, "t%252Einner" },
	{ "\xc3\xa9~", 1, "%C3%A9~" },
	{ "", 1, "" },
};

START_TEST(test_encode_key)
{
	struct buf b;

	buf_init(&b, 1024);
	ck_assert_int_eq(s3_encode_key(enc[_i].in, enc[_i].slash, &b), 0);
	ck_assert_str_eq(buf_str(&b), enc[_i].want);
	buf_free(&b);
}
END_TEST

START_TEST(test_encode_key_cap)
{
	struct buf b;

	buf_init(&b, 4);
	ck_assert_int_eq(s3_encode_key("abcdefgh", 1, &b), -EMSGSIZE);
	buf_free(&b);
}
END_TEST

static const char list_xml[] =
	"<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
	"<Contents><Key>a&amp;b</Key><Size>3</Size></Contents>"
	"<Contents><Key>c&lt;d&gt;</Key><Size>0</Size></Contents>"
	"<NextContinuationToken>tok/=</NextContinuationToken></ListBucketResult>";

START_TEST(test_xml_next)
{
	char out[64];
	size_t pos = 0;

	ck_assert_int_eq(s3_xml_next(list_xml, strlen(list_xml), "Key", &pos, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "a&b");
	ck_assert_int_eq(s3_xml_next(list_xml, strlen(list_xml), "Key", &pos, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "c<d>");
	ck_assert_int_eq(s3_xml_next(list_xml, strlen(list_xml), "Key", &pos, out, sizeof(out)), 0);
	pos = 0;
	ck_assert_int_eq(s3_xml_next(list_xml, strlen(list_xml), "NextContinuationToken", &pos, out, sizeof(out)), 1);
	ck_assert_str_eq(out, "tok/=");
	pos = 0;
	ck_assert_int_eq(s3_xml_next(list_xml, strlen(list_xml), "Key", &pos, out, 3), -EMSGSIZE);
	/* An unterminated element is not found. */
	pos = 0;
	ck_assert_int_eq(s3_xml_next("<Key>abc", 8, "Key", &pos, out, sizeof(out)), 0);
}
END_TEST

static const struct { const char *body; int code; const char *want; } errs[] = {
	{ "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
	  403, "s3: PUT k: 403 SignatureDoesNotMatch: The request signature we calculated does not match" },
	{ "<Error><Code>NoSuchBucket</Code></Error>", 404, "s3: PUT k: 404 NoSuchBucket" },
	{ "bad gateway\n", 502, "s3: PUT k: HTTP 502: bad gateway" },
	{ "", 500, "s3: PUT k: HTTP 500" },
};

START_TEST(test_format_error)
{
	char err[256];

	s3_format_error("PUT", "k", errs[_i].code, errs[_i].body, strlen(errs[_i].body), err, sizeof(err));
	ck_assert_str_eq(err, errs[_i].want);
}
END_TEST

static const struct { int code, want; } statuses[] = {
	{ 200, 0 }, { 204, 0 }, { 401, -EACCES }, { 403, -EACCES }, { 404, -ENOENT },
	{ 409, -EEXIST }, { 500, -EIO }, { 503, -EIO }, { 0, -EIO },
};

START_TEST(test_status)
{
	ck_assert_int_eq(s3_status_errno(statuses[_i].code), statuses[_i].want);
}
END_TEST

START_TEST(test_new_requires_fields)
{
	struct s3_options o = { .endpoint = "http://127.0.0.1:1", .bucket = "b", .access_key = "a" };
	struct s3_client *c = NULL;

	ck_assert_int_eq(s3_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	o.secret_key = "s";
	ck_assert_int_eq(s3_new(&o, &c), 0);
	s3_free(c);
	s3_free(NULL);
}
END_TEST

/* Credentials, endpoint and region that would break a signed header. */
static const struct {
	const char *endpoint, *access_key, *secret_key, *region;
} header_breaking[] = {
	{ "http://127.0.0.1:1", "a\r\nX-Injected: 1", "s", NULL },
	{ "http://127.0.0.1:1", "a", "s\r\n", NULL },
	{ "http://127.0.0.1:1", "a", "s\x01", NULL },
	{ "http://127.0.0.1:1", "a:b", "s", NULL },
	{ "http://127.0.0.1:1", "a", "s", "eu-west-1\n" },
	{ "http://127.0.0.1:1", "a", "s", "eu:west" },
	{ "http://127.0.0.1:1/\r\nHost: x", "a", "s", NULL },
	{ "http://127.0.0.1:1 x", "a", "s", NULL },
};

START_TEST(test_new_refuses_header_breaking)
{
	struct s3_options o = { .endpoint = header_breaking[_i].endpoint, .bucket = "b",
				.access_key = header_breaking[_i].access_key,
				.secret_key = header_breaking[_i].secret_key,
				.region = header_breaking[_i].region };
	struct s3_client *c = NULL;

	ck_assert_int_eq(s3_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3");
	TCase *tc = tcase_create("unit");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_encode_key, 0, sizeof(enc) / sizeof(enc[0]));
	tcase_add_test(tc, test_encode_key_cap);
	tcase_add_test(tc, test_xml_next);
	tcase_add_loop_test(tc, test_format_error, 0, sizeof(errs) / sizeof(errs[0]));
	tcase_add_loop_test(tc, test_status, 0, sizeof(statuses) / sizeof(statuses[0]));
	tcase_add_test(tc, test_new_requires_fields);
	tcase_add_loop_test(tc, test_new_refuses_header_breaking, 0,
			    sizeof(header_breaking) / sizeof(header_breaking[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
