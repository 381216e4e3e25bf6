/*
 * pkg/pg against a real PostgreSQL server named by DATABASE_URL
 * (hack/postgres starts one; hack/test.d/27-router sets it). Without it
 * the test reports itself skipped (exit 77).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static const char *url;

struct rows {
	int n;
	char first[3][64];
	int nulls;
};

static int collect(void *ud, int ncols, const char *const *vals)
{
	struct rows *r = ud;
	int i;

	for (i = 0; i < ncols; i++) {
		if (!vals[i])
			r->nulls++;
		else if (r->n == 0 && i < 3)
			snprintf(r->first[i], sizeof(r->first[i]), "%s", vals[i]);
	}
	r->n++;
	return 0;
}

static int stop_at_two(void *ud, int ncols, const char *const *vals)
{
	int *n = ud;

	return ++*n == 2 ? 42 : 0;
}

static struct pg *conn(void)
{
	struct pg *p = NULL;

	ck_assert_int_eq(pg_connect(url, 5, NULL, &p), 0);
	return p;
}

START_TEST(parameters_rows_and_nulls)
{
	struct pg *p = conn();
	struct rows r = { 0 };
	const char *ins[] = { "x'); DROP TABLE pg_t; --", "7" };
	const char *sel[] = { "7" };
	int n = 0;

	ck_assert_int_eq(pg_query(p, "DROP TABLE IF EXISTS pg_t", NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(pg_query(p, "CREATE TABLE pg_t (name text, id bigint, note text)",
				  NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(pg_query(p, "INSERT INTO pg_t VALUES ($1, $2, NULL)", ins, 2,
				  NULL, NULL), 0);
	ck_assert_int_eq(pg_query(p, "INSERT INTO pg_t SELECT 'n' || g, g, 'x' FROM generate_series(100, 199) g",
				  NULL, 0, NULL, NULL), 0);
	ck_assert_int_eq(pg_query(p, "SELECT name, id, note FROM pg_t WHERE id = $1",
				  sel, 1, collect, &r), 0);
	ck_assert_int_eq(r.n, 1);
	ck_assert_str_eq(r.first[0], ins[0]); /* stored as data, not run */
	ck_assert_str_eq(r.first[1], "7");
	ck_assert_int_eq(r.nulls, 1);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(pg_query(p, "SELECT name FROM pg_t", NULL, 0, collect, &r), 0);
	ck_assert_int_eq(r.n, 101);
	ck_assert_int_eq(pg_query(p, "SELECT id FROM pg_t", NULL, 0, stop_at_two, &n), 42);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(pg_query(p, "DROP TABLE pg_t", NULL, 0, NULL, NULL), 0);
	pg_close(p);
}
END_TEST

static const struct {
	const char *sql;
	int rc;
} errors[] = {
	{ "SELECT * FROM no_such_table", -ENOENT },
	{ "SELECT no_such_column FROM pg_class", -ENOENT },
	{ "SELEKT 1", -EINVAL },
	{ "SELECT 1/0", -EINVAL },
	{ "SELECT 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", -E2BIG },
};

START_TEST(errors_map_to_errnos)
{
	struct pg *p = conn();

	ck_assert_int_eq(pg_query(p, errors[_i].sql, NULL, 0, collect,
				  &(struct rows){ 0 }), errors[_i].rc);
	/* the connection still works afterwards */
	ck_assert_int_eq(pg_query(p, "SELECT 1", NULL, 0, NULL, NULL), 0);
	ck_assert_ptr_nonnull(pg_strerror(errors[_i].rc));
	pg_close(p);
}
END_TEST

static int read_pid(void *ud, int ncols, const char *const *vals)
{
	snprintf(ud, 32, "%s", vals[0]);
	return 0;
}

START_TEST(a_killed_backend_is_reconnected_once)
{
	struct pg *victim = conn(), *killer = conn();
	char pid[32] = "";
	const char *params[] = { pid };
	struct rows r = { 0 };

	ck_assert_int_eq(pg_query(victim, "SELECT pg_backend_pid()", NULL, 0,
				  read_pid, pid), 0);
	ck_assert_int_eq(pg_query(killer, "SELECT pg_terminate_backend($1::int)",
				  params, 1, NULL, NULL), 0);
	ck_assert_int_eq(pg_query(victim, "SELECT 5", NULL, 0, collect, &r), 0);
	ck_assert_str_eq(r.first[0], "5");
	pg_close(victim);
	pg_close(killer);
}
END_TEST

START_TEST(bad_connections_are_refused)
{
	struct pg *p = (void *)1;

	ck_assert_int_eq(pg_connect("postgres://127.0.0.1:1/x", 2, NULL, &p),
			 -ECONNREFUSED);
	ck_assert_int_eq(pg_connect("host=127.0.0.1 port=1 nonsense", 2, NULL, &p),
			 -EINVAL);
	ck_assert_int_eq(pg_connect("no_such_option=1", 2, NULL, &p), -EINVAL);
	ck_assert_ptr_eq(p, (void *)1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pg");
	TCase *t = tcase_create("pg");
	SRunner *r;
	int failed;

	url = getenv("DATABASE_URL");
	if (!url || !*url) {
		fprintf(stderr, "DATABASE_URL unset: skipped\n");
		return 77;
	}
	tcase_add_test(t, parameters_rows_and_nulls);
	tcase_add_loop_test(t, errors_map_to_errnos, 0,
			    sizeof(errors) / sizeof(errors[0]));
	tcase_add_test(t, a_killed_backend_is_reconnected_once);
	tcase_add_test(t, bad_connections_are_refused);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
