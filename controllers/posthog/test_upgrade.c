/* The upgrade plan (upgrade_plan.c): order, decisions, rollback tracking,
 * and the judgement of ZooKeeper's mntr, ClickHouse's and connect-to. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgrade.h"

/* A pod as "name:component:shard:ordinal:flags", flags from E (exists),
 * U (updated), R (ready), H (healthy), L (leader), V (KRaft voter). */
static void pod_of(const char *spec, struct phc_up_pod *p)
{
	char buf[128], *f[5], *s = buf;
	int k = 0;

	memset(p, 0, sizeof(*p));
	strncpy(buf, spec, sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	for (; k < 5; k++) {
		f[k] = s;
		s = strchr(s, ':');
		if (!s)
			break;
		*s++ = '\0';
	}
	ck_assert_int_eq(k, 4);
	strncpy(p->name, f[0], sizeof(p->name) - 1);
	p->component = f[1][0] == 'z' ? PHC_UP_ZOOKEEPER : f[1][0] == 'k' ? PHC_UP_KAFKA : PHC_UP_CLICKHOUSE;
	p->shard = f[2][0] - '0';
	p->ordinal = f[3][0] - '0';
	p->exists = strchr(f[4], 'E') != NULL;
	p->updated = strchr(f[4], 'U') != NULL;
	p->ready = strchr(f[4], 'R') != NULL;
	p->healthy = strchr(f[4], 'H') != NULL;
	p->leader = strchr(f[4], 'L') != NULL;
	p->voter = strchr(f[4], 'V') != NULL;
	if (!p->healthy)
		strcpy(p->check, "check X failed");
	/* Not Ready since the plan's clock starts (st.since in test_decide). */
	if (p->exists && !p->ready)
		p->unready_since = 100000;
}

#define MAXP 8

static const struct {
	const char *what;
	const char *pods[MAXP]; /* in plan order */
	const char *inflight;   /* st.pod */
	int64_t age;            /* now - st.since */
	enum phc_up_action want;
	const char *pod;        /* the decision's pod, or NULL */
	const char *msg;        /* a substring of the message */
	bool forget;            /* gate_passed */
} decide[] = {
	{"all updated and healthy: done",
	 {"z0:z:0:0:EURH", "z1:z:0:1:EURH"}, "", 0, PHC_UP_DONE, NULL, "every pod", false},
	{"first outdated pod is restarted when all are healthy",
	 {"z0:z:0:0:ERH", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "", 0, PHC_UP_RESTART, "z0", "restarting z0", false},
	{"restarted pod not yet Ready: wait, nothing else touched",
	 {"z0:z:0:0:EU", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 10, PHC_UP_WAIT, "z0", "not Ready", false},
	{"restarted pod Ready but unsynced: wait on its check",
	 {"z0:z:0:0:EUR", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 10, PHC_UP_WAIT, "z0", "check X", false},
	{"restarted pod gone (recreating): wait",
	 {"z0:z:0:0:", "z1:z:0:1:ERH"}, "z0", 5, PHC_UP_WAIT, "z0", "does not exist", false},
	{"restarted pod past the timeout: halt naming it and its check",
	 {"z0:z:0:0:EUR", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 700, PHC_UP_HALT, "z0", "halted at pod z0: check X", false},
	{"restarted pod passed: the next one goes",
	 {"z0:z:0:0:EURH", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 30, PHC_UP_RESTART, "z1", "restarting z1", true},
	{"halted pod healthy again: plan resumes",
	 {"z0:z:0:0:EURH", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 9000, PHC_UP_RESTART, "z1", "z1", true},
	{"target changed under the halted pod: it is replaced first",
	 {"z0:z:0:0:E", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "z0", 9000, PHC_UP_RESTART, "z0", "not Ready", true},
	{"an outdated pod that is not Ready is replaced before any other",
	 {"z0:z:0:0:ERH", "k0:k:0:0:ERH", "c0:c:0:0:E"}, "", 0, PHC_UP_RESTART, "c0", "not Ready", false},
	{"a replica with a backlog holds the next restart",
	 {"c00:c:0:0:EURH", "c01:c:0:1:ER", "c10:c:1:0:ERH"}, "", 0, PHC_UP_WAIT, "c01", "before restarting c01", false},
	{"backlog on another shard holds too",
	 {"c00:c:0:0:EURH", "c01:c:0:1:EURH", "c10:c:1:0:ERH", "c11:c:1:1:EURH"}, "", 0, PHC_UP_RESTART, "c10", "restarting c10", false},
	{"an unhealthy updated pod holds the next",
	 {"k0:k:0:0:EUR", "k1:k:0:1:ERH"}, "", 0, PHC_UP_WAIT, "k0", "before restarting k1, waiting for k0: check X", false},
	{"nothing outdated: health is not the plan's affair",
	 {"k0:k:0:0:EUR", "k1:k:0:1:EURH"}, "", 0, PHC_UP_DONE, NULL, "every pod", false},
	{"an updated pod never Ready past the timeout halts, the plan's memory lost",
	 {"z0:z:0:0:EU", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "", 700, PHC_UP_HALT, "z0",
	 "halted at pod z0: the pod is not Ready, for 700 s", false},
	{"... and waits within the timeout",
	 {"z0:z:0:0:EU", "z1:z:0:1:ERH", "z2:z:0:2:ERHL"}, "", 500, PHC_UP_WAIT, "z0",
	 "before restarting z1, waiting for z0: the pod is not Ready", false},
	{"an updated pod Ready but unhealthy past the timeout waits (a backlog drains)",
	 {"k0:k:0:0:EUR", "k1:k:0:1:ERH"}, "", 700, PHC_UP_WAIT, "k0", "check X", false},
	{"an outdated pod not Ready past the timeout is replaced, not halted on",
	 {"z0:z:0:0:EURH", "z1:z:0:1:E", "z2:z:0:2:ERHL"}, "", 700, PHC_UP_RESTART, "z1", "not Ready", false},
	{"in-flight pod scaled away: forgotten",
	 {"k0:k:0:0:EURH"}, "k5", 10, PHC_UP_DONE, NULL, "every pod", true},
};

START_TEST(test_decide)
{
	struct phc_up_pod pods[MAXP];
	struct phc_up_state st = {0};
	struct phc_up_decision d;
	size_t n = 0;

	while (n < MAXP && decide[_i].pods[n]) {
		pod_of(decide[_i].pods[n], &pods[n]);
		n++;
	}
	strcpy(st.pod, decide[_i].inflight);
	st.since = 100000;
	phc_upgrade_decide(pods, n, &st, 100000 + decide[_i].age, 600, &d);
	ck_assert_msg(d.action == decide[_i].want, "%s: action %d, want %d (%s)", decide[_i].what,
		      d.action, decide[_i].want, d.message);
	if (decide[_i].pod)
		ck_assert_str_eq(pods[d.pod].name, decide[_i].pod);
	else if (d.action != PHC_UP_DONE)
		ck_assert_int_eq(d.pod, -1);
	ck_assert_msg(strstr(d.message, decide[_i].msg), "%s: message \"%s\" lacks \"%s\"",
		      decide[_i].what, d.message, decide[_i].msg);
	ck_assert_int_eq(d.gate_passed, decide[_i].forget);
}
END_TEST

/* The components a decision leaves unfinished (their stages not ready). */
#define Z (1u << PHC_UP_ZOOKEEPER)
#define K (1u << PHC_UP_KAFKA)
#define C (1u << PHC_UP_CLICKHOUSE)
static const struct {
	const char *what;
	const char *pods[MAXP]; /* in plan order */
	const char *inflight;
	int64_t age;
	unsigned holds;
} holds[] = {
	{"nothing to do", {"z0:z:0:0:EURH", "k0:k:0:0:EURH", "c0:c:0:0:EURH"}, "", 0, 0},
	{"zookeeper not begun: it holds, and so does kafka, also outdated",
	 {"z0:z:0:0:ERH", "k0:k:0:0:ERH", "c0:c:0:0:EURH"}, "", 0, Z | K},
	/* Every StatefulSet count says ready; the restarted leader is not yet
	 * synced. */
	{"last zookeeper pod Ready, its gate not passed",
	 {"z0:z:0:0:EURH", "z1:z:0:1:EURL"}, "z1", 5, Z},
	{"last zookeeper pod passed its gate", {"z0:z:0:0:EURH", "z1:z:0:1:EURHL"}, "z1", 5, 0},
	{"restarted broker being recreated", {"z0:z:0:0:EURH", "k0:k:0:0:", "k1:k:0:1:EURH"}, "k0", 2, K},
	{"halted at a clickhouse replica", {"c0:c:0:0:EUR", "c1:c:0:1:ERH"}, "c0", 9000, C},
	{"an unhealthy pod with no restart of the plan: health is not the plan's",
	 {"k0:k:0:0:EUR", "k1:k:0:1:EURH"}, "", 0, 0},
	{"in-flight pod scaled away", {"k0:k:0:0:EURH"}, "k5", 10, 0},
};

START_TEST(test_holds)
{
	struct phc_up_pod pods[MAXP];
	struct phc_up_state st = {0};
	struct phc_up_decision d;
	size_t n = 0;
	unsigned got;

	while (n < MAXP && holds[_i].pods[n]) {
		pod_of(holds[_i].pods[n], &pods[n]);
		n++;
	}
	strcpy(st.pod, holds[_i].inflight);
	st.since = 100000;
	phc_upgrade_decide(pods, n, &st, 100000 + holds[_i].age, 600, &d);
	got = phc_upgrade_holds(pods, n, &st, &d);
	ck_assert_msg(got == holds[_i].holds, "%s: holds %#x, want %#x", holds[_i].what, got,
		      holds[_i].holds);
}
END_TEST
#undef Z
#undef K
#undef C

static const struct {
	const char *what;
	const char *pods[MAXP]; /* any order */
	bool rb[PHC_UP_NCOMPONENTS];
	const char *want[MAXP];
} order[] = {
	{"zookeeper followers first, leader last; then kafka; then clickhouse",
	 {"c10:c:1:0:E", "z1:z:0:1:EL", "k1:k:0:1:E", "c00:c:0:0:E", "z0:z:0:0:E", "k0:k:0:0:E", "z2:z:0:2:E"},
	 {false, false, false},
	 {"z0", "z2", "z1", "k0", "k1", "c00", "c10"}},
	{"a rollback walks everything backwards",
	 {"c10:c:1:0:E", "z1:z:0:1:EL", "k1:k:0:1:E", "c00:c:0:0:E", "z0:z:0:0:E", "k0:k:0:0:E", "z2:z:0:2:E"},
	 {true, false, false},
	 {"c00", "c10", "k0", "k1", "z1", "z2", "z0"}},
	{"kafka: the KRaft controllers before the brokers",
	 {"k1:k:0:1:E", "q1:k:0:1:EV", "k0:k:0:0:E", "z0:z:0:0:E", "q0:k:0:0:EV"},
	 {false, false, false},
	 {"z0", "q0", "q1", "k0", "k1"}},
	{"kafka rollback: the brokers back first, the controllers last",
	 {"k1:k:0:1:E", "q1:k:0:1:EV", "k0:k:0:0:E", "q0:k:0:0:EV"},
	 {false, true, false},
	 {"k1", "k0", "q1", "q0"}},
	{"clickhouse replicas by shard then replica",
	 {"c11:c:1:1:E", "c01:c:0:1:E", "c10:c:1:0:E", "c00:c:0:0:E"},
	 {false, false, false},
	 {"c00", "c01", "c10", "c11"}},
	{"clickhouse rollback: last shard's last replica first",
	 {"c11:c:1:1:E", "c01:c:0:1:E", "c10:c:1:0:E", "c00:c:0:0:E"},
	 {false, false, true},
	 {"c11", "c10", "c01", "c00"}},
};

START_TEST(test_order)
{
	struct phc_up_pod pods[MAXP];
	size_t n = 0;

	while (n < MAXP && order[_i].pods[n]) {
		pod_of(order[_i].pods[n], &pods[n]);
		n++;
	}
	phc_upgrade_order(pods, n, order[_i].rb);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(!strcmp(pods[i].name, order[_i].want[i]), "%s: position %zu is %s, want %s",
			      order[_i].what, i, pods[i].name, order[_i].want[i]);
}
END_TEST

static const struct {
	const char *from, *to; bool rb;  /* before */
	const char *update, *old;        /* observed */
	const char *wfrom, *wto; bool wrb;
} tracks[] = {
	{"", "", false, "r1", NULL, "r1", "r1", false},        /* first sight, nothing to do */
	{"r1", "r1", false, "r2", "r1", "r1", "r2", false},    /* forward */
	{"r1", "r2", false, "r1", "r2", "r2", "r1", true},     /* back to r1: rollback */
	{"r1", "r2", false, "r3", "r1", "r1", "r3", false},    /* fix forward */
	{"r1", "r2", false, "r2", "r1", "r1", "r2", false},    /* unchanged */
	{"r2", "r1", true, "r2", "r1", "r1", "r2", true},      /* forward again after a rollback */
};

START_TEST(test_track)
{
	struct phc_up_track t = {0};

	strcpy(t.from, tracks[_i].from);
	strcpy(t.to, tracks[_i].to);
	t.rollback = tracks[_i].rb;
	phc_upgrade_track(&t, tracks[_i].update, tracks[_i].old);
	ck_assert_str_eq(t.from, tracks[_i].wfrom);
	ck_assert_str_eq(t.to, tracks[_i].wto);
	ck_assert_int_eq(t.rollback, tracks[_i].wrb);
}
END_TEST

static const struct {
	const char *text;
	int rc;
	const char *state;
	int followers, synced;
} mntr[] = {
	{"zk_version\t3.8.0\nzk_server_state\tleader\nzk_followers\t2\nzk_synced_followers\t2\n", 0, "leader", 2, 2},
	{"zk_server_state\tfollower\r\nzk_znode_count\t5\r\n", 0, "follower", -1, -1},
	{"This ZooKeeper instance is not currently serving requests\n", -EBADMSG, "", 0, 0},
	{"zk_server_state\tleader\nzk_synced_followers\tx1\n", 0, "leader", -1, -1},
	{"", -EBADMSG, "", 0, 0},
};

START_TEST(test_mntr)
{
	struct phc_zk_mntr m = {.state = "untouched"};
	int r = phc_zk_parse_mntr(mntr[_i].text, strlen(mntr[_i].text), &m);

	ck_assert_int_eq(r, mntr[_i].rc);
	if (r < 0) {
		ck_assert_str_eq(m.state, "untouched");
		return;
	}
	ck_assert_str_eq(m.state, mntr[_i].state);
	ck_assert_int_eq(m.followers, mntr[_i].followers);
	ck_assert_int_eq(m.synced_followers, mntr[_i].synced);
}
END_TEST

static const struct {
	const char *states[3]; /* NULL: no answer */
	int synced;            /* of the leader */
	size_t n;
	bool whole;
	int leader;            /* index, or -1 */
	bool healthy[3];
	const char *check;     /* in pod 0's check */
} judge[] = {
	{{"follower", "leader", "follower"}, 2, 3, true, 1, {true, true, true}, ""},
	{{"follower", "leader", "follower"}, 1, 3, false, 1, {false, false, false}, "1 of 2 followers synced"},
	{{NULL, "leader", "follower"}, 1, 3, false, 1, {false, false, false}, "no answer"},
	{{"follower", "follower", "follower"}, 0, 3, false, -1, {false, false, false}, "0 leaders"},
	{{"standalone"}, 0, 1, true, 0, {true}, ""},
	{{"looking", "leader", "follower"}, 1, 3, false, 1, {false, false, false}, "zk_server_state is looking"},
};

START_TEST(test_zk_judge)
{
	struct phc_zk_mntr m[3] = {{{0}}};
	struct phc_up_pod pods[3];
	bool ok[3];
	const char *why[3] = {NULL, NULL, NULL};

	for (size_t i = 0; i < judge[_i].n; i++) {
		memset(&pods[i], 0, sizeof(pods[i]));
		snprintf(pods[i].name, sizeof(pods[i].name), "zk-%zu", i);
		ok[i] = judge[_i].states[i] != NULL;
		if (ok[i])
			strcpy(m[i].state, judge[_i].states[i]);
		m[i].followers = m[i].synced_followers = -1;
		if (ok[i] && !strcmp(m[i].state, "leader"))
			m[i].synced_followers = judge[_i].synced;
	}
	ck_assert_int_eq(phc_zk_judge(m, ok, why, judge[_i].n, pods), judge[_i].whole);
	for (size_t i = 0; i < judge[_i].n; i++) {
		ck_assert_int_eq(pods[i].healthy, judge[_i].healthy[i]);
		ck_assert_int_eq(pods[i].leader, (int)i == judge[_i].leader);
	}
	ck_assert_msg(strstr(pods[0].check, judge[_i].check), "check \"%s\" lacks \"%s\"", pods[0].check,
		      judge[_i].check);
}
END_TEST

static const struct {
	struct phc_ch_health h;
	bool ok;
	const char *check;
} chj[] = {
	{{4, 0, 0, 0, -1}, true, ""},
	{{4, 0, 0, 0, 0}, true, ""},
	{{4, 1, 0, 0, -1}, false, "1 of 4 tables not active"},
	{{4, 0, 11, 0, -1}, false, "absolute_delay 11 s"},
	{{4, 0, 2, 3, -1}, false, "replication_queue: 3 entries"},
	{{4, 0, 0, 0, 7}, false, "distribution_queue: 7 files"},
};

START_TEST(test_ch_judge)
{
	char check[PHC_UP_CHECK];

	ck_assert_int_eq(phc_ch_judge(&chj[_i].h, 10, check, sizeof(check)), chj[_i].ok);
	ck_assert_msg(strstr(check, chj[_i].check), "\"%s\" lacks \"%s\"", check, chj[_i].check);
	if (chj[_i].ok)
		ck_assert_str_eq(check, "");
}
END_TEST

static const struct {
	const char *map[3];
	const char *host;
	unsigned port;
	int rc;
	const char *whost;
	unsigned wport;
} maps[] = {
	{{NULL}, "a.svc", 2181, 0, "a.svc", 2181},
	{{":8123:127.0.0.1:9000"}, "a.svc", 8123, 0, "127.0.0.1", 9000},
	{{":8123:127.0.0.1:9000"}, "a.svc", 2181, 0, "a.svc", 2181},
	{{"b.svc:2181:127.0.0.1:1", "a.svc:2181:127.0.0.2:2"}, "a.svc", 2181, 0, "127.0.0.2", 2},
	{{"a.svc::[::1]:7"}, "a.svc", 2181, 0, "::1", 7},
	{{"a.svc:2181::"}, "a.svc", 2181, 0, "a.svc", 2181},
	{{"a.svc:2181:127.0.0.1:99999"}, "a.svc", 2181, 0, "a.svc", 2181},
};

START_TEST(test_connect_map)
{
	char host[64];
	unsigned port = 0;

	ck_assert_int_eq(phc_connect_map(maps[_i].map, maps[_i].host, maps[_i].port, host, sizeof(host),
					 &port), maps[_i].rc);
	ck_assert_str_eq(host, maps[_i].whost);
	ck_assert_uint_eq(port, maps[_i].wport);
}
END_TEST

START_TEST(test_connect_map_long)
{
	char host[4];
	unsigned port = 0;

	ck_assert_int_eq(phc_connect_map(NULL, "long.svc", 1, host, sizeof(host), &port), -ENAMETOOLONG);
}
END_TEST

/* A Deployment as the API server reports it during a rollout. */
static const struct {
	const char *json;
	bool done;
	const char *why;
} rollouts[] = {
	{"{\"metadata\":{\"name\":\"d\",\"generation\":2},\"spec\":{\"replicas\":2},"
	 "\"status\":{\"observedGeneration\":2,\"replicas\":2,\"updatedReplicas\":2,\"availableReplicas\":2}}",
	 true, ""},
	/* The controller has not seen the new template yet. */
	{"{\"metadata\":{\"name\":\"d\",\"generation\":3},\"spec\":{\"replicas\":2},"
	 "\"status\":{\"observedGeneration\":2,\"replicas\":2,\"updatedReplicas\":2,\"availableReplicas\":2}}",
	 false, "Deployment d: its new spec is not yet observed"},
	{"{\"metadata\":{\"name\":\"d\",\"generation\":3},\"spec\":{\"replicas\":2},"
	 "\"status\":{\"observedGeneration\":3,\"replicas\":3,\"updatedReplicas\":1,\"availableReplicas\":2}}",
	 false, "Deployment d: 1 of 2 replicas updated"},
	/* A new pod that never becomes Ready: surge, the old pod still
	 * serves, so availableReplicas alone would look fine. */
	{"{\"metadata\":{\"name\":\"d\",\"generation\":3},\"spec\":{\"replicas\":1},"
	 "\"status\":{\"observedGeneration\":3,\"replicas\":2,\"updatedReplicas\":1,\"availableReplicas\":1}}",
	 false, "Deployment d: 1 old replicas not yet gone"},
	{"{\"metadata\":{\"name\":\"d\",\"generation\":3},\"spec\":{\"replicas\":2},"
	 "\"status\":{\"observedGeneration\":3,\"replicas\":2,\"updatedReplicas\":2,\"availableReplicas\":1}}",
	 false, "Deployment d: 1 of 2 updated replicas available"},
	/* Scaled to zero: nothing to wait for. */
	{"{\"metadata\":{\"name\":\"d\",\"generation\":4},\"spec\":{\"replicas\":0},"
	 "\"status\":{\"observedGeneration\":4}}",
	 true, ""},
	/* Just created: no status yet. */
	{"{\"metadata\":{\"name\":\"d\",\"generation\":1},\"spec\":{\"replicas\":1}}",
	 false, "Deployment d: its new spec is not yet observed"},
};

START_TEST(test_rollout)
{
	cJSON *d = cJSON_Parse(rollouts[_i].json);
	char why[256];

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(phc_rollout_complete(d, why, sizeof(why)), rollouts[_i].done);
	ck_assert_str_eq(why, rollouts[_i].why);
	cJSON_Delete(d);
}
END_TEST

/* phc_upgrade_sts_settled: when the StatefulSet's status alone shows
 * nothing to restart, so that its pods are not listed. */
static const struct {
	const char *json;
	bool settled;
} settled[] = {
	{"{\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":2,"
	 "\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":3,\"updateRevision\":\"zk-2\"}}",
	 true},
	/* spec.replicas defaults to 1. */
	{"{\"metadata\":{\"generation\":1},\"status\":{\"observedGeneration\":1,\"replicas\":1,"
	 "\"readyReplicas\":1,\"updatedReplicas\":1,\"updateRevision\":\"zk-1\"}}",
	 true},
	/* Scaled to zero: the counts are omitted, and there is nothing to restart. */
	{"{\"metadata\":{\"generation\":4},\"spec\":{\"replicas\":0},\"status\":{\"observedGeneration\":4,"
	 "\"replicas\":0,\"updateRevision\":\"zk-4\"}}",
	 true},
	/* The new template is not yet observed: the counts are the old revision's. */
	{"{\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":2,"
	 "\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":3,\"updateRevision\":\"zk-2\"}}",
	 false},
	/* OnDelete: a pod still on the old revision. */
	{"{\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":3,"
	 "\"replicas\":3,\"readyReplicas\":3,\"updatedReplicas\":2,\"updateRevision\":\"zk-3\"}}",
	 false},
	/* A pod on the new revision that is not Ready: nothing to restart. */
	{"{\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":3,"
	 "\"replicas\":3,\"readyReplicas\":2,\"updatedReplicas\":3,\"updateRevision\":\"zk-3\"}}",
	 true},
	/* Just created: every pod exists, none Ready yet (the count is omitted). */
	{"{\"metadata\":{\"generation\":1},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":1,"
	 "\"replicas\":3,\"updatedReplicas\":3,\"updateRevision\":\"zk-1\"}}",
	 true},
	/* A terminating pod: counted in replicas, not in updatedReplicas. */
	{"{\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":2},\"status\":{\"observedGeneration\":3,"
	 "\"replicas\":3,\"readyReplicas\":2,\"updatedReplicas\":2,\"updateRevision\":\"zk-3\"}}",
	 false},
	/* A pod not yet created. */
	{"{\"metadata\":{\"generation\":1},\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":1,"
	 "\"replicas\":2,\"readyReplicas\":2,\"updatedReplicas\":2,\"updateRevision\":\"zk-1\"}}",
	 false},
	/* No revision yet: the controller has not written a status. */
	{"{\"metadata\":{\"generation\":1},\"spec\":{\"replicas\":1},\"status\":{\"observedGeneration\":1,"
	 "\"replicas\":1,\"readyReplicas\":1,\"updatedReplicas\":1}}",
	 false},
	{"{\"metadata\":{\"generation\":1},\"spec\":{\"replicas\":1}}", false},
};

START_TEST(test_settled)
{
	cJSON *sts = cJSON_Parse(settled[_i].json);

	ck_assert_ptr_nonnull(sts);
	ck_assert_int_eq(phc_upgrade_sts_settled(sts), settled[_i].settled);
	cJSON_Delete(sts);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("upgrade");
	TCase *tc = tcase_create("plan");

	tcase_add_loop_test(tc, test_decide, 0, sizeof(decide) / sizeof(decide[0]));
	tcase_add_loop_test(tc, test_holds, 0, sizeof(holds) / sizeof(holds[0]));
	tcase_add_loop_test(tc, test_order, 0, sizeof(order) / sizeof(order[0]));
	tcase_add_loop_test(tc, test_track, 0, sizeof(tracks) / sizeof(tracks[0]));
	tcase_add_loop_test(tc, test_mntr, 0, sizeof(mntr) / sizeof(mntr[0]));
	tcase_add_loop_test(tc, test_zk_judge, 0, sizeof(judge) / sizeof(judge[0]));
	tcase_add_loop_test(tc, test_ch_judge, 0, sizeof(chj) / sizeof(chj[0]));
	tcase_add_loop_test(tc, test_connect_map, 0, sizeof(maps) / sizeof(maps[0]));
	tcase_add_test(tc, test_connect_map_long);
	tcase_add_loop_test(tc, test_rollout, 0, sizeof(rollouts) / sizeof(rollouts[0]));
	tcase_add_loop_test(tc, test_settled, 0, sizeof(settled) / sizeof(settled[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
