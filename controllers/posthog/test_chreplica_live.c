/*
 * Removing a ClickHouse replica (chreplica.h) against two real ClickHouse
 * 18.16 servers, replicas of one shard named as the operator names them
 * (ph-clickhouse-0-0, ph-clickhouse-0-1), and Debian's ZooKeeper
 * (hack/test.d/29-clickhouse-replicas starts them and sets CLICKHOUSE_URL,
 * CLICKHOUSE_URL_B, CLICKHOUSE_DIR_B, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
 * ZOOKEEPER_HOSTS); skipped (77) without them.
 *
 * The added replica catches up (phc_replica_lag reaches 0 and it has the
 * rows); while it runs, lowering the replicas to one drops nothing (it is
 * active); once it is stopped, its metadata is dropped from ZooKeeper and
 * the survivor's system.replicas counts one replica, with one znode under
 * each table's replicas path.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/clickhouse/clickhouse.h"
#include "chreplica.h"

static struct ch_client *client(const char *url)
{
	struct ch_options o = {
		.url = url,
		.user = getenv("CLICKHOUSE_USER"),
		.password = getenv("CLICKHOUSE_PASSWORD"),
		.timeout_ms = 30000,
	};
	struct ch_client *c = NULL;

	ck_assert_int_eq(ch_new(&o, &c), 0);
	return c;
}

static void exec_ok(struct ch_client *c, const char *sql)
{
	char err[1024] = "";

	ck_assert_msg(ch_exec(c, sql, err, sizeof(err)) == 0, "%s: %s", sql, err);
}

static char *scalar(struct ch_client *c, const char *sql)
{
	cJSON *rows = NULL;
	char err[1024] = "", *v;
	const cJSON *f;

	ck_assert_msg(ch_query(c, sql, &rows, err, sizeof(err)) == 0, "%s: %s", sql, err);
	ck_assert_int_eq(cJSON_GetArraySize(rows), 1);
	f = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "v");
	ck_assert(cJSON_IsString(f));
	v = strdup(f->valuestring);
	cJSON_Delete(rows);
	return v;
}

static void assert_scalar(struct ch_client *c, const char *sql, const char *want)
{
	char *v = scalar(c, sql);

	ck_assert_msg(!strcmp(v, want), "%s: %s, want %s", sql, v, want);
	free(v);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static const char *const tables[] = {"sharded_events", "sharded_persons"};

START_TEST(test_removed_replica_is_dropped)
{
	struct ch_client *a = client(getenv("CLICKHOUSE_URL")), *b = client(getenv("CLICKHOUSE_URL_B"));
	struct phc_replica_drop d = {.database = "posthog", .prefix = "ph-clickhouse-0-", .keep = 1,
				    .zk_hosts = getenv("ZOOKEEPER_HOSTS")};
	char err[1024] = "", what[256] = "", cmd[1024], sql[512];
	unsigned behind = 1;
	int tries;

	for (size_t i = 0; i < 2; i++) {
		struct ch_client *c = i ? b : a;

		exec_ok(c, "CREATE DATABASE IF NOT EXISTS posthog");
		for (size_t t = 0; t < 2; t++) {
			snprintf(sql, sizeof(sql),
				 "CREATE TABLE IF NOT EXISTS posthog.%s (id UInt64) ENGINE = "
				 "ReplicatedMergeTree('/clickhouse/tables/{shard}/posthog.%s', '{replica}') "
				 "ORDER BY id", tables[t], tables[t]);
			exec_ok(c, sql);
		}
	}
	exec_ok(a, "INSERT INTO posthog.sharded_events SELECT number FROM system.numbers LIMIT 1000");
	exec_ok(a, "INSERT INTO posthog.sharded_persons SELECT number FROM system.numbers LIMIT 10");

	/* The added replica catches up: Ready only then. */
	for (tries = 0; tries < 300; tries++) {
		ck_assert_msg(phc_replica_lag(b, "posthog", &behind, what, sizeof(what), err,
					     sizeof(err)) == 0, "%s", err);
		if (behind == 0)
			break;
		sleep_ms(100);
	}
	ck_assert_msg(behind == 0, "replica b never caught up: %s", what);
	assert_scalar(b, "SELECT toString(count()) AS v FROM posthog.sharded_events", "1000");
	assert_scalar(a, "SELECT toString(min(total_replicas)) AS v FROM system.replicas "
			 "WHERE database = 'posthog'", "2");

	/* Lowered to one replica while the second still runs: left alone. */
	ck_assert_msg(phc_replica_drop_removed(a, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(d.dropped, 0);

	/* The StatefulSet removes the pod: the server stops. */
	snprintf(cmd, sizeof(cmd), "hack/clickhouse down --dir '%s' >/dev/null 2>&1",
		 getenv("CLICKHOUSE_DIR_B"));
	ck_assert_int_eq(system(cmd), 0);
	for (tries = 0; tries < 300; tries++) {
		char *v = scalar(a, "SELECT toString(max(active_replicas)) AS v FROM system.replicas "
				    "WHERE database = 'posthog'");
		bool gone = !strcmp(v, "1");

		free(v);
		if (gone)
			break;
		sleep_ms(100);
	}
	assert_scalar(a, "SELECT toString(max(total_replicas)) AS v FROM system.replicas "
			 "WHERE database = 'posthog'", "2");

	/* 18.16's parser has no SYSTEM DROP REPLICA: its answer is the
	 * SYNTAX_ERROR after which the drop goes through ZooKeeper. */
	{
		char *v = scalar(a, "SELECT version() AS v");

		if (!strncmp(v, "18.", 3)) {
			ck_assert_int_ne(ch_exec(a, "SYSTEM DROP REPLICA 'ph-clickhouse-0-1' FROM TABLE "
						    "posthog.sharded_events", err, sizeof(err)), 0);
			ck_assert_msg(ch_exception_code(err) == CH_SYNTAX_ERROR, "%s", err);
		}
		free(v);
	}
	ck_assert_msg(phc_replica_drop_removed(a, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(d.dropped, 2); /* one per table */
	ck_assert_uint_eq(d.active, 0);
	assert_scalar(a, "SELECT toString(max(total_replicas)) AS v FROM system.replicas "
			 "WHERE database = 'posthog'", "1");
	for (size_t t = 0; t < 2; t++) {
		snprintf(sql, sizeof(sql),
			 "SELECT arrayStringConcat(groupArray(name), ',') AS v FROM system.zookeeper "
			 "WHERE path = '/clickhouse/tables/1/posthog.%s/replicas'", tables[t]);
		assert_scalar(a, sql, "ph-clickhouse-0-0");
	}
	/* The survivor still writes and reads. */
	exec_ok(a, "INSERT INTO posthog.sharded_events VALUES (5000)");
	assert_scalar(a, "SELECT toString(count()) AS v FROM posthog.sharded_events", "1001");
	/* Again: nothing left to drop. */
	ck_assert_msg(phc_replica_drop_removed(a, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(d.dropped, 0);
	fprintf(stderr, "chreplica live: replica ph-clickhouse-0-1 caught up, was left while active, "
			"dropped from 2 tables once stopped; survivor total_replicas 1\n");
	ch_free(a);
	ch_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chreplica_live");
	TCase *tc = tcase_create("drop");
	SRunner *sr;
	int failed;

	if (!getenv("CLICKHOUSE_URL") || !getenv("CLICKHOUSE_URL_B") || !getenv("CLICKHOUSE_DIR_B") ||
	    !getenv("ZOOKEEPER_HOSTS")) {
		fprintf(stderr, "CLICKHOUSE_URL, CLICKHOUSE_URL_B, CLICKHOUSE_DIR_B, ZOOKEEPER_HOSTS unset: "
				"skipped\n");
		return 77;
	}
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_removed_replica_is_dropped);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
