/*
 * The s3 client against a real S3-compatible server (hack/s3: versitygw,
 * which checks every SigV4 signature). S3_ENDPOINT, S3_ACCESS_KEY and
 * S3_SECRET_KEY name it, with a bucket "backups"; without them the test
 * reports itself skipped (77). Keys live under a per-run prefix.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3.h"

static char prefix[64];

static struct s3_client *client(const char *endpoint, const char *secret)
{
	struct s3_options o = {
		.endpoint = endpoint ? endpoint : getenv("S3_ENDPOINT"),
		.bucket = "backups",
		.access_key = getenv("S3_ACCESS_KEY"),
		.secret_key = secret ? secret : getenv("S3_SECRET_KEY"),
		.timeout_ms = 20000,
	};
	struct s3_client *c = NULL;

	ck_assert_int_eq(s3_new(&o, &c), 0);
	return c;
}

static void key(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", prefix, name);
}

START_TEST(test_put_get_delete)
{
	struct s3_client *c = client(NULL, NULL);
	char k[128], err[512] = "";
	struct buf b;

	key(k, sizeof(k), "dir/hello world.txt");
	ck_assert_int_eq(s3_put(c, k, "hello", 5, err, sizeof(err)), 0);
	buf_init(&b, 1024);
	ck_assert_int_eq(s3_get(c, k, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(buf_str(&b), "hello");
	ck_assert_int_eq(s3_delete(c, k, err, sizeof(err)), 0);
	buf_reset(&b);
	ck_assert_int_eq(s3_get(c, k, &b, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "NoSuchKey"));
	/* Deleting what is gone is not an error. */
	ck_assert_int_eq(s3_delete(c, k, err, sizeof(err)), 0);
	/* An empty object. */
	ck_assert_int_eq(s3_put(c, k, "", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(s3_get(c, k, &b, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	s3_free(c);
}
END_TEST

START_TEST(test_file_roundtrip)
{
	struct s3_client *c = client(NULL, NULL);
	char k[128], err[512] = "", src[] = "/tmp/s3-live-XXXXXX", dst[64], h1[65], h2[65];
	struct s3_stats st;
	FILE *f;
	int fd, i;

	fd = mkstemp(src);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	for (i = 0; i < 300000; i++)
		fprintf(f, "%d,", i * 7919);
	fclose(f);
	snprintf(dst, sizeof(dst), "%s.out", src);
	key(k, sizeof(k), "file.bin");
	ck_assert_int_eq(s3_put_file(c, k, src, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(s3_get_file(c, k, dst, err, sizeof(err)), 0);
	ck_assert_int_eq(s3_sha256_file(src, h1), 0);
	ck_assert_int_eq(s3_sha256_file(dst, h2), 0);
	ck_assert_str_eq(h1, h2);
	s3_get_stats(c, &st);
	ck_assert_uint_eq(st.puts, 1);
	ck_assert_uint_eq(st.gets, 1);
	/* A wrong payload hash is refused by the store, which proves that
	 * the header is signed and checked. */
	ck_assert_int_lt(s3_put_file(c, k, src, "0000000000000000000000000000000000000000000000000000000000000000",
				     err, sizeof(err)), 0);
	/* A missing key leaves no file behind. */
	key(k, sizeof(k), "missing");
	ck_assert_int_eq(s3_get_file(c, k, dst, err, sizeof(err)), -ENOENT);
	ck_assert_int_ne(access(dst, F_OK), 0);
	unlink(src);
	s3_free(c);
}
END_TEST

START_TEST(test_list_pages)
{
	struct s3_client *c = client(NULL, NULL);
	char k[128], err[512] = "";
	cJSON *arr = NULL;
	int i, n = 1005; /* more than one page of 1000 */

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "%s/list/k%04d", prefix, i);
		ck_assert_int_eq(s3_put(c, k, "x", 1, err, sizeof(err)), 0);
	}
	snprintf(k, sizeof(k), "%s/list/", prefix);
	ck_assert_int_eq(s3_list(c, k, &arr, err, sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetArraySize(arr), n);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1004), "key")) + strlen(k), "k1004");
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "size")), 1);
	cJSON_Delete(arr);
	snprintf(k, sizeof(k), "%s/nothing/", prefix);
	ck_assert_int_eq(s3_list(c, k, &arr, err, sizeof(err)), 0);
	ck_assert_int_eq(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);
	s3_free(c);
}
END_TEST

START_TEST(test_wrong_credentials)
{
	struct s3_client *c = client(NULL, "wrong-secret");
	char k[128], err[512] = "";
	cJSON *arr = NULL;
	struct buf b;

	key(k, sizeof(k), "denied");
	ck_assert_int_eq(s3_put(c, k, "x", 1, err, sizeof(err)), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "SignatureDoesNotMatch"));
	ck_assert_int_eq(s3_list(c, prefix, &arr, err, sizeof(err)), -EACCES);
	ck_assert_int_eq(s3_delete(c, k, err, sizeof(err)), -EACCES);
	buf_init(&b, 64);
	ck_assert_int_eq(s3_get(c, k, &b, err, sizeof(err)), -EACCES);
	buf_free(&b);
	s3_free(c);
}
END_TEST

START_TEST(test_unreachable)
{
	struct s3_client *c = client("http://127.0.0.1:9", NULL);
	char err[512] = "";

	ck_assert_int_eq(s3_put(c, "k", "x", 1, err, sizeof(err)), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:9"));
	s3_free(c);
}
END_TEST

START_TEST(test_no_bucket)
{
	struct s3_options o = {
		.endpoint = getenv("S3_ENDPOINT"), .bucket = "no-such-bucket",
		.access_key = getenv("S3_ACCESS_KEY"), .secret_key = getenv("S3_SECRET_KEY"),
	};
	struct s3_client *c = NULL;
	char err[512] = "";

	ck_assert_int_eq(s3_new(&o, &c), 0);
	ck_assert_int_eq(s3_put(c, "k", "x", 1, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "NoSuchBucket"));
	s3_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3_live");
	TCase *tc = tcase_create("live");
	SRunner *sr;
	int failed;

	if (!getenv("S3_ENDPOINT") || !getenv("S3_ACCESS_KEY") || !getenv("S3_SECRET_KEY")) {
		fprintf(stderr, "s3_live: S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY not set: skipped\n");
		return 77;
	}
	snprintf(prefix, sizeof(prefix), "s3-live-%ld", (long)getpid());
	/* 1005 PUTs in test_list_pages on a loaded 2-core machine. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_put_get_delete);
	tcase_add_test(tc, test_file_roundtrip);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_wrong_credentials);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_no_bucket);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
