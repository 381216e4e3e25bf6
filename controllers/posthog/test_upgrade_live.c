/*
 * The restart plan against real servers (hack/test.d/28-upgrade-gates
 * starts them): three ZooKeeper servers as one ensemble (UPGRADE_ZK, their
 * client addresses in ordinal order) and four ClickHouse 18.16 servers
 * (UPGRADE_CH, their URLs: shard 0 replica 0, shard 0 replica 1, shard 1
 * replica 0, shard 1 replica 1) as two shards of two replicas on it.
 * UPGRADE_RESTART is the harness's kubelet: "$UPGRADE_RESTART zk ORDINAL"
 * or "... ch ORDINAL" restarts the server behind the pod the plan
 * deleted. Without these the test reports itself skipped (77).
 *
 * The plan's decisions (upgrade_plan.c) and gates (upgrade_health.c) are
 * the operator's own; only the pod facts come from the servers here
 * instead of the API server.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_ZK_CLIENT
#include <zookeeper/zookeeper.h>
#endif

#include "pkg/clickhouse/clickhouse.h"
#include "upgrade.h"

#define NZK 3

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void restart(const char *kind, int ordinal)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s %s %d", getenv("UPGRADE_RESTART"), kind, ordinal);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- ZooKeeper ----------------------------------------------------------- */

struct zk_env {
	char map[NZK][128];
	const char *mapv[NZK + 1];
};

static void zk_env(struct zk_env *e)
{
	const char *s = getenv("UPGRADE_ZK");

	for (int i = 0; i < NZK; i++) {
		const char *c = strchr(s, ',');
		size_t l = c ? (size_t)(c - s) : strlen(s);

		snprintf(e->map[i], sizeof(e->map[i]), "zk-%d:2181:%.*s", i, (int)l, s);
		e->mapv[i] = e->map[i];
		s = c ? c + 1 : s + l;
	}
	e->mapv[NZK] = NULL;
}

/* Fills the ZooKeeper pods' facts from the servers: ready = answers mntr. */
static bool zk_probe(const struct zk_env *e, struct phc_up_pod *pods, const bool *updated)
{
	struct phc_zk_mntr m[NZK];
	bool ok[NZK];
	char whyb[NZK][64];
	const char *why[NZK];
	char ans[65536];

	for (int i = 0; i < NZK; i++) {
		size_t len = 0;
		int r = phc_zk_four_letter(e->mapv, pods[i].name, 2181, "mntr", ans, sizeof(ans), &len);

		memset(&m[i], 0, sizeof(m[i]));
		pods[i].component = PHC_UP_ZOOKEEPER;
		pods[i].ordinal = i;
		pods[i].exists = true;
		pods[i].updated = updated[i];
		ok[i] = r == 0 && phc_zk_parse_mntr(ans, len, &m[i]) == 0;
		pods[i].ready = ok[i];
		snprintf(whyb[i], sizeof(whyb[i]), "%s", r < 0 ? strerror(-r) : "not serving");
		why[i] = whyb[i];
	}
	return phc_zk_judge(m, ok, why, NZK, pods);
}

#ifdef HAVE_ZK_CLIENT
struct writer {
	const char *hosts;
	volatile bool stop;
	int64_t writes, failures, longest_gap_ms;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	zhandle_t *zh;
	int64_t last_ok = now_ms();
	char path[64];

	zoo_set_debug_level((ZooLogLevel)0); /* its reconnects are expected here */
	zh = zookeeper_init(w->hosts, NULL, 15000, NULL, NULL, 0);
	if (!zh)
		return NULL;
	zoo_create(zh, "/upgrade-writer", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, path, sizeof(path));
	while (!w->stop) {
		char v[32];
		int n = snprintf(v, sizeof(v), "%" PRId64, w->writes);
		int rc = zoo_set(zh, "/upgrade-writer", v, n, -1);
		int64_t t = now_ms();

		if (rc == ZOK) {
			w->writes++;
			last_ok = t;
		} else {
			w->failures++;
			if (t - last_ok > w->longest_gap_ms)
				w->longest_gap_ms = t - last_ok;
			usleep(20000);
		}
		usleep(5000);
	}
	zookeeper_close(zh);
	return NULL;
}
#endif

START_TEST(test_zookeeper_plan)
{
	struct zk_env e;
	struct phc_up_pod pods[NZK];
	bool updated[NZK] = {false, false, false}, none[PHC_UP_NCOMPONENTS] = {false};
	struct phc_up_state st = {0};
	char order[NZK][PHC_UP_NAME];
	bool was_leader[NZK];
	int restarts = 0;
	int64_t deadline = now_ms() + 60000, election_ms = 0, leader_down = 0;

	if (!getenv("UPGRADE_ZK") || !getenv("UPGRADE_RESTART"))
		return;
	zk_env(&e);
	memset(pods, 0, sizeof(pods));
	for (int i = 0; i < NZK; i++)
		snprintf(pods[i].name, sizeof(pods[i].name), "zk-%d", i);
	while (!zk_probe(&e, pods, updated)) {
		ck_assert_msg(now_ms() < deadline, "the ensemble did not form: %s", pods[0].check);
		usleep(200000);
	}
#ifdef HAVE_ZK_CLIENT
	struct writer w = {.hosts = getenv("UPGRADE_ZK")};
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, write_loop, &w), 0);
	usleep(500000);
#endif
	deadline = now_ms() + 180000;
	for (;;) {
		struct phc_up_pod sorted[NZK];
		struct phc_up_decision d;
		bool whole;

		for (int i = 0; i < NZK; i++)
			snprintf(pods[i].name, sizeof(pods[i].name), "zk-%d", i);
		whole = zk_probe(&e, pods, updated);
		/* The election: from the leader's restart until a server leads. */
		for (int i = 0; leader_down && !election_ms && i < NZK; i++)
			if (pods[i].leader)
				election_ms = now_ms() - leader_down;
		memcpy(sorted, pods, sizeof(pods));
		phc_upgrade_order(sorted, NZK, none);
		phc_upgrade_decide(sorted, NZK, &st, time(NULL), 60, &d);
		ck_assert_msg(d.action != PHC_UP_HALT, "halted: %s", d.message);
		if (d.gate_passed)
			st.pod[0] = '\0';
		if (d.action == PHC_UP_DONE)
			break;
		if (d.action == PHC_UP_RESTART) {
			const struct phc_up_pod *p = &sorted[d.pod];

			/* Never a second pod while the first is unsynced: the whole
			 * ensemble passes its gate before each restart. */
			ck_assert_msg(whole, "restarting %s while the ensemble is not whole", p->name);
			ck_assert_int_lt(restarts, NZK);
			snprintf(order[restarts], PHC_UP_NAME, "%s", p->name);
			was_leader[restarts++] = p->leader;
			fprintf(stderr, "restart %d: %s (%s)\n", restarts, p->name,
				p->leader ? "leader" : "follower");
			if (p->leader)
				leader_down = now_ms();
			restart("zk", p->ordinal);
			updated[p->ordinal] = true;
			snprintf(st.pod, sizeof(st.pod), "%s", p->name);
			st.since = time(NULL);
		}
		ck_assert_msg(now_ms() < deadline, "the plan did not finish: %s", d.message);
		usleep(250000);
	}
	ck_assert_int_eq(restarts, NZK);
	/* Followers first, the leader last. */
	ck_assert(!was_leader[0] && !was_leader[1] && was_leader[2]);
	fprintf(stderr, "order: %s %s %s; election after the leader's restart: %" PRId64 " ms\n",
		order[0], order[1], order[2], election_ms);
#ifdef HAVE_ZK_CLIENT
	w.stop = true;
	pthread_join(th, NULL);
	fprintf(stderr, "writer: %" PRId64 " writes, %" PRId64 " failed, longest outage %" PRId64 " ms\n",
		w.writes, w.failures, w.longest_gap_ms);
	ck_assert_int_gt(w.writes, 100);
	/* One election, plus the client's reconnect to another server. */
	ck_assert_msg(w.longest_gap_ms <= election_ms + 3000,
		      "a write outage of %" PRId64 " ms, longer than the election (%" PRId64 " ms)",
		      w.longest_gap_ms, election_ms);
#else
	fprintf(stderr, "no libzookeeper-mt-dev: the writer is not run\n");
#endif
}
END_TEST

/* ---- ClickHouse ---------------------------------------------------------- */

static struct ch_client *client(const char *url)
{
	struct ch_options o = {
		.url = url,
		.user = getenv("CLICKHOUSE_USER"),
		.password = getenv("CLICKHOUSE_PASSWORD"),
		.timeout_ms = 10000,
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

/* Rows of the inserter (n below 1000000) or of the backlog. */
static int64_t count_rows(struct ch_client *c, bool backlog)
{
	cJSON *rows = NULL;
	char err[512];
	const cJSON *v;
	int64_t n;

	ck_assert_msg(ch_query(c, backlog ? "SELECT count() AS c FROM default.upg WHERE n >= 1000000"
					  : "SELECT count() AS c FROM default.upg WHERE n < 1000000",
			       &rows, err, sizeof(err)) == 0, "%s", err);
	v = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "c");
	n = cJSON_IsString(v) ? strtoll(v->valuestring, NULL, 10) : -1;
	cJSON_Delete(rows);
	return n;
}

/* ClickHouse server r (0..NCH-1) is replica r % 2 of shard r / 2. */
#define NCH 4

/* Server r's pod facts from its server. */
static void ch_fact(struct ch_client *c, int r, bool updated, struct phc_up_pod *p,
		    struct phc_ch_health *h)
{
	char err[512] = "";

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "ch-%d-%d", r / 2, r % 2);
	p->component = PHC_UP_CLICKHOUSE;
	p->shard = r / 2;
	p->ordinal = r % 2;
	p->exists = true;
	p->updated = updated;
	memset(h, 0, sizeof(*h));
	p->ready = phc_ch_read_health(c, h, err, sizeof(err)) == 0;
	p->healthy = p->ready && phc_ch_judge(h, 10, p->check, sizeof(p->check));
	if (!p->ready)
		snprintf(p->check, sizeof(p->check), "%.300s", err);
}

/* The server index of a pod "ch-S-R". */
static int server_of(const struct phc_up_pod *p)
{
	return p->shard * 2 + p->ordinal;
}

/* One shard's inserter. */
struct inserter {
	struct ch_client *ch[2]; /* its two replicas */
	int shard;
	volatile int avoid;      /* the replica being restarted, or -1 */
	volatile bool stop;
	int64_t inserted, retried;
};

/* Inserts one row at a time into a replica of its shard that is not being
 * restarted; a failed insert is retried on the other, so every row is
 * acknowledged by a server. */
static void *insert_loop(void *arg)
{
	struct inserter *in = arg;
	int turn = 0;

	while (!in->stop) {
		char sql[128], err[256];
		int r = in->avoid == turn ? 1 - turn : turn;

		snprintf(sql, sizeof(sql), "INSERT INTO default.upg VALUES (%" PRId64 ")", in->inserted);
		if (ch_exec(in->ch[r], sql, err, sizeof(err)) == 0)
			in->inserted++;
		else
			in->retried++;
		turn = 1 - turn;
		/* A row every 250 ms per shard: steady, as ingestion's batches
		 * are, leaving the replicas moments with an empty
		 * replication_queue (the gate waits for one; on a loaded
		 * machine a fetch per 20 ms never left one). */
		usleep(250000);
	}
	return NULL;
}

static void ch_facts(struct ch_client **c, const bool *updated, struct phc_up_pod *pods,
		     struct phc_ch_health *h, struct phc_up_pod *sorted)
{
	bool none[PHC_UP_NCOMPONENTS] = {false};

	for (int r = 0; r < NCH; r++)
		ch_fact(c[r], r, updated[r], &pods[r], &h[r]);
	memcpy(sorted, pods, NCH * sizeof(*pods));
	phc_upgrade_order(sorted, NCH, none);
}

/* Replica ch-0-1 stops fetching while ch-0-0 takes rows: its
 * replication_queue holds the plan (nothing is restarted) until it
 * fetches again. */
static void ch_backlog_holds(struct ch_client **c)
{
	struct phc_up_pod pods[NCH], sorted[NCH];
	struct phc_ch_health h[NCH];
	struct phc_up_state st = {0};
	struct phc_up_decision d;
	bool updated[NCH] = {false};
	int64_t deadline;

	exec_ok(c[1], "SYSTEM STOP FETCHES default.upg");
	/* Distinct rows: identical blocks would be deduplicated. */
	for (int i = 0; i < 5; i++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "INSERT INTO default.upg VALUES (%d)", 1000000 + i);
		exec_ok(c[0], sql);
	}
	deadline = now_ms() + 30000;
	do {
		ch_fact(c[1], 1, false, &pods[1], &h[1]);
		usleep(200000);
	} while (h[1].queue == 0 && now_ms() < deadline);
	ck_assert_int_gt(h[1].queue, 0);
	/* (Another replica may itself be catching up on its ZooKeeper
	 * session for a moment; the decision is taken again until it names
	 * ch-0-1.) */
	deadline = now_ms() + 30000;
	do {
		ch_facts(c, updated, pods, h, sorted);
		phc_upgrade_decide(sorted, NCH, &st, time(NULL), 120, &d);
		ck_assert_msg(d.action == PHC_UP_WAIT, "with a backlog: action %d (%s)", d.action, d.message);
		if (!strcmp(sorted[d.pod].name, "ch-0-1"))
			break;
		usleep(300000);
	} while (now_ms() < deadline);
	ck_assert_str_eq(sorted[d.pod].name, "ch-0-1");
	ck_assert_msg(strstr(d.message, "replication_queue"), "%s", d.message);
	fprintf(stderr, "held: %s\n", d.message);
	exec_ok(c[1], "SYSTEM START FETCHES default.upg");
}

START_TEST(test_clickhouse_plan)
{
	const char *urls = getenv("UPGRADE_CH");
	static const char *const want[NCH] = {"ch-0-0", "ch-0-1", "ch-1-0", "ch-1-1"};
	struct ch_client *c[NCH], *ins[NCH];
	struct phc_up_pod pods[NCH], sorted[NCH];
	struct phc_ch_health h[NCH];
	struct phc_up_state st = {0};
	struct phc_up_decision d;
	bool updated[NCH] = {false};
	struct inserter in[NCH / 2];
	pthread_t th[NCH / 2];
	int restarts = 0;
	int64_t deadline;

	if (!urls || !getenv("UPGRADE_RESTART"))
		return;
	for (int r = 0; r < NCH; r++) {
		const char *e = strchr(urls, ',');
		char url[256];

		snprintf(url, sizeof(url), "%.*s", e ? (int)(e - urls) : (int)strlen(urls), urls);
		c[r] = client(url);
		ins[r] = client(url);
		urls = e ? e + 1 : urls + strlen(urls);
	}
	for (int r = 0; r < NCH; r++)
		exec_ok(c[r], "CREATE TABLE IF NOT EXISTS default.upg (n UInt64) ENGINE = "
			      "ReplicatedMergeTree('/clickhouse/tables/upgrade/{shard}/upg', '{replica}') "
			      "ORDER BY n");
	for (int r = 0; r < NCH; r++) {
		ch_fact(c[r], r, false, &pods[r], &h[r]);
		ck_assert_msg(pods[r].healthy, "server %d: %s", r, pods[r].check);
		/* 18.16 has no system.distribution_queue: the check says so. */
		ck_assert_int_eq(h[r].distribution, -1);
		ck_assert_int_ge(h[r].tables, 1);
	}
	ch_backlog_holds(c);

	for (int s = 0; s < NCH / 2; s++) {
		in[s] = (struct inserter){.ch = {ins[2 * s], ins[2 * s + 1]}, .shard = s, .avoid = -1};
		ck_assert_int_eq(pthread_create(&th[s], NULL, insert_loop, &in[s]), 0);
	}
	deadline = now_ms() + 420000;
	for (;;) {
		ch_facts(c, updated, pods, h, sorted);
		phc_upgrade_decide(sorted, NCH, &st, time(NULL), 120, &d);
		ck_assert_msg(d.action != PHC_UP_HALT, "halted: %s", d.message);
		if (d.gate_passed) {
			st.pod[0] = '\0';
			for (int s = 0; s < NCH / 2; s++)
				in[s].avoid = -1;
		}
		if (d.action == PHC_UP_DONE)
			break;
		if (d.action == PHC_UP_RESTART) {
			const struct phc_up_pod *p = &sorted[d.pod];
			int sv = server_of(p);

			/* One replica at a time: every other server is serving
			 * and healthy, so the shard keeps its other replica. */
			for (int r = 0; r < NCH; r++)
				ck_assert_msg(r == sv || pods[r].healthy, "restarting %s while %s: %s",
					      p->name, pods[r].name, pods[r].check);
			ck_assert_int_lt(restarts, NCH);
			ck_assert_str_eq(p->name, want[restarts]);
			in[p->shard].avoid = p->ordinal;
			usleep(100000); /* an insert in flight to it finishes */
			fprintf(stderr, "restart %d: %s\n", ++restarts, p->name);
			restart("ch", sv);
			updated[sv] = true;
			snprintf(st.pod, sizeof(st.pod), "%s", p->name);
			st.since = time(NULL);
		}
		ck_assert_msg(now_ms() < deadline, "the plan did not finish: %s", d.message);
		usleep(300000);
	}
	for (int s = 0; s < NCH / 2; s++) {
		in[s].stop = true;
		pthread_join(th[s], NULL);
	}
	ck_assert_int_eq(restarts, NCH);
	for (int r = 0; r < NCH; r++)
		exec_ok(c[r], "SYSTEM SYNC REPLICA default.upg");
	/* No row lost: both replicas of a shard hold every row acknowledged
	 * in it, and shard 0 the five backlog rows. (An insert retried with
	 * the same value after an unanswered one is deduplicated by
	 * ClickHouse, so it is one row.) */
	for (int r = 0; r < NCH; r++) {
		fprintf(stderr, "%s: %" PRId64 " rows of %" PRId64 " inserted in its shard (%" PRId64
			" retried on the other replica)\n", pods[r].name, count_rows(c[r], false),
			in[r / 2].inserted, in[r / 2].retried);
		ck_assert_int_gt(in[r / 2].inserted, 0);
		ck_assert_int_eq(count_rows(c[r], false), in[r / 2].inserted);
		ck_assert_int_eq(count_rows(c[r], true), r / 2 == 0 ? 5 : 0);
	}
	/* The servers and their data go with the harness. */
	for (int r = 0; r < NCH; r++) {
		ch_free(c[r]);
		ch_free(ins[r]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("upgrade-live");
	TCase *tc = tcase_create("gates");
	SRunner *sr;
	int failed;

	if (!getenv("UPGRADE_RESTART"))
		return 77;
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_zookeeper_plan);
	tcase_add_test(tc, test_clickhouse_plan);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
