#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Appends of these sizes under a cap: each expected result in turn. */
static const struct {
	size_t cap;
	size_t sizes[4];
	int want[4];
	size_t final_len;
} cap_cases[] = {
	{10, {4, 6, 1, 0}, {0, 0, -EMSGSIZE, 0}, 10},
	{10, {11, 0, 0, 0}, {-EMSGSIZE, 0, 0, 0}, 0},
	{1000, {100, 200, 300, 400}, {0, 0, 0, 0}, 1000},
	{1000, {500, 501, 499, 2}, {0, -EMSGSIZE, 0, -EMSGSIZE}, 999},
};

START_TEST(test_cap)
{
	char data[1024];
	struct buf b;

	memset(data, 'x', sizeof(data));
	buf_init(&b, cap_cases[_i].cap);
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(buf_append(&b, data, cap_cases[_i].sizes[k]),
				 cap_cases[_i].want[k]);
	ck_assert_uint_eq(b.len, cap_cases[_i].final_len);
	ck_assert_uint_eq(strlen(buf_str(&b)), cap_cases[_i].final_len);
	buf_free(&b);
}
END_TEST

START_TEST(test_printf_consume_take)
{
	struct buf b;
	char *s;

	buf_init(&b, 64);
	ck_assert_str_eq(buf_str(&b), "");
	ck_assert_int_eq(buf_printf(&b, "%s-%d", "ab", 42), 0);
	ck_assert_str_eq(buf_str(&b), "ab-42");
	ck_assert_int_eq(buf_printf(&b, "%0100d", 1), -EMSGSIZE);
	ck_assert_str_eq(buf_str(&b), "ab-42");
	buf_consume(&b, 3);
	ck_assert_str_eq(buf_str(&b), "42");
	s = buf_take(&b);
	ck_assert_str_eq(s, "42");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_null(b.data);
	free(s);
	s = buf_take(&b);
	ck_assert_str_eq(s, "");
	free(s);
	buf_free(&b);
}
END_TEST

/* Puts under a cap: the error each sequence leaves and the text kept. */
static const struct {
	size_t cap;
	const char *puts[4];
	int err;
	const char *text;
} put_cases[] = {
	{16, {"abc", "def", NULL}, 0, "abcdef"},
	{4, {"abc", "def", "g", NULL}, -EMSGSIZE, "abc"}, /* "g" would fit: skipped */
	{4, {"abcdef", "x", NULL}, -EMSGSIZE, ""},
	{8, {"", NULL}, 0, ""},
};

START_TEST(test_put_sticky)
{
	struct buf b;

	buf_init(&b, put_cases[_i].cap);
	for (int k = 0; put_cases[_i].puts[k]; k++)
		buf_puts(&b, put_cases[_i].puts[k]);
	ck_assert_int_eq(buf_error(&b), put_cases[_i].err);
	ck_assert_str_eq(buf_str(&b), put_cases[_i].text);
	buf_putf(&b, "%d", 7);
	ck_assert_int_eq(buf_error(&b), put_cases[_i].err);
	buf_reset(&b);
	ck_assert_int_eq(buf_error(&b), 0);
	buf_putf(&b, "%d", 7);
	buf_put(&b, "8", 1);
	ck_assert_str_eq(buf_str(&b), "78");
	buf_free(&b);
}
END_TEST

/* buf_reserve on a buffer holding `had` bytes: the result, and the room
 * it leaves (exactly what was asked for, not a power of two). */
static const struct {
	size_t cap, had, reserve;
	int want;
	size_t alloc;
} reserve_cases[] = {
	{1000, 0, 300, 0, 301},
	{1000, 10, 300, 0, 311},
	{1000, 10, 990, 0, 1001},
	{1000, 10, 991, -EMSGSIZE, 64},
	{1000, 10, 20, 0, 64},  /* already room: unchanged */
};

START_TEST(test_reserve)
{
	char data[16];
	struct buf b;

	memset(data, 'x', sizeof(data));
	buf_init(&b, reserve_cases[_i].cap);
	for (size_t k = 0; k < reserve_cases[_i].had; k++)
		ck_assert_int_eq(buf_append(&b, data, 1), 0);
	ck_assert_int_eq(buf_reserve(&b, reserve_cases[_i].reserve), reserve_cases[_i].want);
	ck_assert_uint_eq(b.alloc, reserve_cases[_i].alloc);
	ck_assert_uint_eq(b.len, reserve_cases[_i].had);
	/* appends after it double from there */
	ck_assert_int_eq(buf_append(&b, data, 1), 0);
	ck_assert_uint_eq(b.len, reserve_cases[_i].had + 1);
	buf_free(&b);
}
END_TEST

/* buf_truncate undoes a failed run of puts: text and error. */
START_TEST(test_truncate)
{
	struct buf b;

	buf_init(&b, 8);
	buf_puts(&b, "abc");
	buf_puts(&b, "defg");
	buf_puts(&b, "hij");  /* past the cap */
	ck_assert_int_eq(buf_error(&b), -EMSGSIZE);
	ck_assert_str_eq(buf_str(&b), "abcdefg");
	buf_truncate(&b, 3);
	ck_assert_int_eq(buf_error(&b), 0);
	ck_assert_str_eq(buf_str(&b), "abc");
	buf_truncate(&b, 10);  /* longer than the text: only the error goes */
	ck_assert_str_eq(buf_str(&b), "abc");
	buf_puts(&b, "xy");
	ck_assert_str_eq(buf_str(&b), "abcxy");
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_cap, 0, sizeof(cap_cases) / sizeof(*cap_cases));
	tcase_add_test(tc, test_printf_consume_take);
	tcase_add_loop_test(tc, test_put_sticky, 0, sizeof(put_cases) / sizeof(*put_cases));
	tcase_add_loop_test(tc, test_reserve, 0, sizeof(reserve_cases) / sizeof(*reserve_cases));
	tcase_add_test(tc, test_truncate);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
