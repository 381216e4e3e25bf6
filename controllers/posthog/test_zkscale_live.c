/*
 * The operator's ZooKeeper membership change (zkscale.h) against real
 * ZooKeeper servers (Debian's 3.8) on loopback: 3 -> 5 -> 3 members, one
 * step at a time, while a client writes throughout and every server's
 * mntr is read over and over.
 *
 * hack/test.d/28-zookeeper-reconfig starts servers 1..3 and sets
 * ZK_ENSEMBLE (hack/zk-ensemble's directory), ZK_CTL (that script),
 * ZK_HOSTS (every server's client address) and ZK_CLIENT_PORTS (the
 * client ports of servers 1..5, space-separated); without them the test
 * reports itself skipped (77). The StatefulSet's part is played by
 * ZK_CTL: a SCALE step starts (as a joiner) or stops servers.
 *
 * Asserted: the committed configuration has servers 1..5, then 1..3; no
 * mntr sample ever finds two servers in state leader; no write keeps
 * failing for longer than one leader election may take (initLimit x
 * tickTime of the test's zoo.cfg: 10 x 500 ms), from its first failure to
 * the next success.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "zkscale.h"

#define NSERVERS 5
#define ELECTION_BOUND_MS (10 * 500)

struct env {
	const char *dir, *ctl, *hosts;
	int client_port[NSERVERS + 1];
	int quorum_port[NSERVERS + 1];
	int election_port[NSERVERS + 1];
	bool running[NSERVERS + 1];
};

static struct env E;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The four-letter command's answer from server id, into out ("" when it
 * does not answer). */
static void four_letter(int id, const char *cmd, char *out, size_t outsz)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)E.client_port[id])};
	struct timeval tv = {1, 0};
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	out[0] = '\0';
	if (fd < 0)
		return;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd)) {
		while (n + 1 < outsz && (r = read(fd, out + n, outsz - n - 1)) > 0)
			n += (size_t)r;
	}
	out[n] = '\0';
	close(fd);
}

static bool is_state(int id, const char *state)
{
	char buf[8192], want[64];

	four_letter(id, "mntr", buf, sizeof(buf));
	snprintf(want, sizeof(want), "zk_server_state\t%s\n", state);
	return strstr(buf, want) != NULL;
}

/* ---- the writer and the watcher ------------------------------------------ */

struct watch {
	atomic_bool stop;
	/* writer */
	unsigned writes, failures;
	int64_t longest_gap_ms;  /* between two successful writes */
	int64_t longest_fail_ms; /* from a write's failure to the next success */
	/* mntr */
	unsigned samples;
	int most_leaders;
};

static void *writer(void *arg)
{
	struct watch *w = arg;
	struct zk *z = NULL;
	char err[512], data[32];
	int64_t last_ok = now_ms(), fail_start = -1;

	/* No ck_assert off the test's thread: a failure is counted. */
	if (zk_open(E.hosts, 10000, 20000, &z, err, sizeof(err)) < 0) {
		fprintf(stderr, "writer: %s\n", err);
		w->failures++;
		return NULL;
	}
	while (!atomic_load(&w->stop)) {
		snprintf(data, sizeof(data), "%u", w->writes);
		if (zk_put(z, "/posthog-test-writer", data, err, sizeof(err)) == 0) {
			int64_t t = now_ms();

			if (t - last_ok > w->longest_gap_ms)
				w->longest_gap_ms = t - last_ok;
			if (fail_start >= 0 && t - fail_start > w->longest_fail_ms)
				w->longest_fail_ms = t - fail_start;
			fail_start = -1;
			last_ok = t;
			w->writes++;
		} else {
			if (fail_start < 0)
				fail_start = now_ms();
			w->failures++;
			sleep_ms(20);
		}
	}
	zk_close(z);
	return NULL;
}

static void *watcher(void *arg)
{
	struct watch *w = arg;

	while (!atomic_load(&w->stop)) {
		int leaders = 0;

		for (int id = 1; id <= NSERVERS; id++)
			if (E.running[id] && is_state(id, "leader"))
				leaders++;
		if (leaders > w->most_leaders)
			w->most_leaders = leaders;
		w->samples++;
		sleep_ms(20);
	}
	return NULL;
}

/* ---- the StatefulSet's part ----------------------------------------------- */

static int server_statement(int id, void *userdata, char *out, size_t outsz)
{
	(void)userdata;
	if (id < 1 || id > NSERVERS)
		return -EINVAL;
	snprintf(out, outsz, "server.%d=127.0.0.1:%d:%d:participant;127.0.0.1:%d", id,
		 E.quorum_port[id], E.election_port[id], E.client_port[id]);
	return 0;
}

static int pods(void)
{
	int n = 0;

	while (n < NSERVERS && E.running[n + 1])
		n++;
	return n;
}

/* A pod is ready when its server serves (readinessProbe: zkServer.sh
 * status): leader or follower, a joiner as a non-voting follower. */
static int ready_pods(void)
{
	int n = 0;

	for (int id = 1; id <= pods(); id++)
		n += is_state(id, "leader") || is_state(id, "follower");
	return n;
}

static void scale(int replicas, int members)
{
	char cmd[1024];

	for (int id = pods() + 1; id <= replicas; id++) {
		char list[64] = "";

		for (int m = 1; m <= members; m++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", m > 1 ? "," : "", m);
		snprintf(cmd, sizeof(cmd), "'%s' start '%s' %d %s", E.ctl, E.dir, id, list);
		ck_assert_int_eq(system(cmd), 0);
		E.running[id] = true;
	}
	for (int id = pods(); id > replicas; id--) {
		E.running[id] = false;
		snprintf(cmd, sizeof(cmd), "'%s' stop '%s' %d", E.ctl, E.dir, id);
		ck_assert_int_eq(system(cmd), 0);
	}
}

/* Steps towards want until DONE, as the reconciler does on each event. */
static void converge(int want, unsigned *steps)
{
	int64_t deadline = now_ms() + 180000;
	struct ph_zk_step st = {0};
	char err[1024];

	for (;;) {
		struct phc_zk_scale s = {.hosts = E.hosts, .pods = pods(), .ready = ready_pods(),
					.want = want, .server = server_statement, .wait_ms = 10000};
		int r;

		ck_assert_msg(now_ms() < deadline, "no convergence to %d: last step %s", want, st.why);
		r = phc_zk_scale_step(&s, &st, err, sizeof(err));
		if (r == -EAGAIN || r == -ETIMEDOUT || r == -EBUSY) {
			fprintf(stderr, "zkscale: retry (%s)\n", err);
			sleep_ms(500);
			continue;
		}
		ck_assert_msg(r == 0, "step towards %d: %s", want, err);
		if (st.action != PH_ZK_WAIT)
			fprintf(stderr, "zkscale: %s\n", st.why);
		if (st.action == PH_ZK_DONE)
			return;
		if (st.action != PH_ZK_WAIT)
			(*steps)++;
		if (st.action == PH_ZK_SCALE)
			scale(st.replicas, st.members);
		else
			sleep_ms(st.action == PH_ZK_WAIT ? 300 : 100);
	}
}

static void assert_members(int n)
{
	struct zk_config cfg;
	struct zk *z = NULL;
	char err[512], *text = NULL;

	ck_assert_msg(zk_open(E.hosts, 10000, 10000, &z, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(zk_get_config(z, &text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(zk_config_parse(text, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg((int)cfg.n == n, "%d servers in the configuration, want %d:\n%s", (int)cfg.n,
		      n, text);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(cfg.servers[i].id, i + 1);
		ck_assert(cfg.servers[i].role == ZK_PARTICIPANT);
	}
	free(text);
	zk_close(z);
}

START_TEST(test_three_five_three)
{
	struct watch w = {0};
	pthread_t wt, mt;
	unsigned up = 0, down = 0;

	assert_members(3);
	ck_assert_int_eq(pthread_create(&wt, NULL, writer, &w), 0);
	ck_assert_int_eq(pthread_create(&mt, NULL, watcher, &w), 0);
	sleep_ms(1000);
	converge(5, &up);
	assert_members(5);
	converge(3, &down);
	assert_members(3);
	sleep_ms(1000);
	atomic_store(&w.stop, true);
	pthread_join(wt, NULL);
	pthread_join(mt, NULL);
	fprintf(stderr,
		"zkscale live: 3 -> 5 in %u steps, 5 -> 3 in %u steps; %u writes, %u failed, "
		"longest failing stretch %lld ms (bound %d ms), longest time between two writes "
		"%lld ms; %u mntr rounds, at most %d leader(s) at once\n",
		up, down, w.writes, w.failures, (long long)w.longest_fail_ms, ELECTION_BOUND_MS,
		(long long)w.longest_gap_ms, w.samples, w.most_leaders);
	ck_assert_uint_gt(w.writes, 0);
	ck_assert_uint_gt(w.samples, 0);
	ck_assert_int_eq(w.most_leaders, 1);
	/* The measure: no write fails for longer than one leader
	 * election. (The time between two successful writes also counts a
	 * write that is slow on a loaded machine, and is only reported.) */
	ck_assert_int_lt(w.longest_fail_ms, ELECTION_BOUND_MS);
	ck_assert_uint_eq(pods(), 3);
}
END_TEST

static bool load_env(void)
{
	const char *ports = getenv("ZK_PORTS");
	char *end;

	E.dir = getenv("ZK_ENSEMBLE");
	E.ctl = getenv("ZK_CTL");
	E.hosts = getenv("ZK_HOSTS");
	if (!E.dir || !E.ctl || !E.hosts || !ports)
		return false;
	/* ZK_PORTS: quorum, election, client of servers 1..5. */
	for (int id = 1; id <= NSERVERS; id++) {
		int *dst[3] = {&E.quorum_port[id], &E.election_port[id], &E.client_port[id]};

		for (int k = 0; k < 3; k++) {
			long v = strtol(ports, &end, 10);

			if (end == ports || v <= 0 || v > 65535)
				return false;
			*dst[k] = (int)v;
			ports = end;
		}
	}
	for (int id = 1; id <= 3; id++)
		E.running[id] = true;
	return true;
}

int main(void)
{
	Suite *s = suite_create("zkscale_live");
	TCase *tc = tcase_create("reconfig");
	SRunner *sr;
	int failed;

	if (!load_env()) {
		fprintf(stderr, "ZK_ENSEMBLE, ZK_CTL, ZK_HOSTS, ZK_PORTS unset: skipped\n");
		return 77;
	}
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_three_five_three);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
