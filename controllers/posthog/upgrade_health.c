/*
 * Asking each stateful system whether a pod of it is healthy by its own
 * measure, not only Ready (docs/upgrades.md cites the sources):
 *
 * ZooKeeper: the four-letter word mntr on the client port (zoo.cfg
 * whitelists it, api/posthog/build_zookeeper.c). Every server must answer as leader or
 * follower, one must lead, and the leader must count every other server
 * among its synced followers.
 *
 * Kafka: the cluster's metadata through librdkafka (pkg/kafka health.c):
 * each broker in the ISR of every partition it hosts, no partition under
 * its minimum ISR. A broker is its pod's ordinal (node.id, api/posthog/build_kafka.c).
 *
 * ClickHouse: per replica, system.replicas (no read-only table, no expired
 * session, a small absolute_delay), system.replication_queue empty, and
 * system.distribution_queue empty where the server has that table
 * (ClickHouse 18.16 does not: the check is then skipped, and the status
 * message says so).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "pkg/kafka/kafka.h"
#include "controller-private.h"
#include "upgrade.h"

#define ZK_TIMEOUT_MS 2000
#define ZK_MAX_ANSWER (64 * 1024)
#define KAFKA_TIMEOUT_MS 5000
/* Seconds of replication delay a replica may have and count as caught up. */
#define CH_MAX_DELAY_S 10

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int64_t left = deadline - mono_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&pfd, 1, (int)left);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

/* Connects to host:port within the deadline; returns the socket or a
 * negative errno. */
static int dial(const char *host, unsigned port, int64_t deadline)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL, *a;
	char ps[8];
	int fd = -ENOENT, r;

	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	for (a = ai; a; a = a->ai_next) {
		int err = 0;
		socklen_t el = sizeof(err);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		r = connect(fd, a->ai_addr, a->ai_addrlen);
		if (r < 0 && errno == EINPROGRESS)
			r = wait_fd(fd, POLLOUT, deadline) == 0 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && !err ? 0 : -1;
		if (r == 0)
			break;
		close(fd);
		fd = -ECONNREFUSED;
	}
	freeaddrinfo(ai);
	return fd;
}

int phc_zk_four_letter(const char *const *map, const char *host, unsigned port, const char *word,
		       char *out, size_t outsz, size_t *len)
{
	int64_t deadline = mono_ms() + ZK_TIMEOUT_MS;
	char h[256];
	unsigned p;
	size_t n = 0;
	int fd, r = 0;

	if (phc_connect_map(map, host, port, h, sizeof(h), &p) < 0)
		return -ENAMETOOLONG;
	fd = dial(h, p, deadline);
	if (fd < 0)
		return fd;
	if (send(fd, word, strlen(word), MSG_NOSIGNAL) != (ssize_t)strlen(word))
		r = -EIO;
	/* The server answers and closes the connection. */
	while (r == 0 && (r = wait_fd(fd, POLLIN, deadline)) == 0) {
		ssize_t got;

		if (n + 1 >= outsz) {
			r = -EMSGSIZE;
			break;
		}
		got = recv(fd, out + n, outsz - n - 1, 0);
		if (got == 0)
			break;
		if (got < 0) {
			r = errno == EAGAIN ? 0 : -errno;
			continue;
		}
		n += (size_t)got;
	}
	close(fd);
	out[n] = '\0';
	*len = n;
	return r;
}

/* ---- ZooKeeper ----------------------------------------------------------- */

void phc_upgrade_probe_zookeeper(struct phc_run *run, struct phc_up_pod *pods, size_t n)
{
	struct phc_up_pod zk[64];
	struct phc_zk_mntr m[64];
	bool ok[64];
	char why_buf[64][96];
	const char *why[64];
	size_t k = 0, idx[64];
	char *answer = util_xmalloc(ZK_MAX_ANSWER);

	for (size_t i = 0; i < n && k < 64; i++) {
		char host[320];
		size_t len = 0;
		int r;

		if (pods[i].component != PHC_UP_ZOOKEEPER)
			continue;
		idx[k] = i;
		zk[k] = pods[i];
		memset(&m[k], 0, sizeof(m[k]));
		why[k] = why_buf[k];
		ok[k] = false;
		if (!pods[i].exists || !pods[i].ready) {
			snprintf(why_buf[k], sizeof(why_buf[k]), "the pod is not Ready");
			k++;
			continue;
		}
		snprintf(host, sizeof(host), "%s.%s-zookeeper-headless.%s.svc", pods[i].name, run->name,
			 run->ns);
		r = phc_zk_four_letter(run->p->connect_to, host, PH_ZOOKEEPER_CLIENT_PORT, "mntr", answer,
				       ZK_MAX_ANSWER, &len);
		if (r < 0)
			snprintf(why_buf[k], sizeof(why_buf[k]), "%.40s:%d: %.40s", pods[i].name,
				 PH_ZOOKEEPER_CLIENT_PORT, strerror(-r));
		else if (phc_zk_parse_mntr(answer, len, &m[k]) < 0)
			snprintf(why_buf[k], sizeof(why_buf[k]), "not serving (\"%.60s\")", answer);
		else
			ok[k] = true;
		k++;
	}
	/* Ordered by ordinal: server i is the pod of ordinal i. */
	phc_zk_judge(m, ok, why, k, zk);
	for (size_t j = 0; j < k; j++) {
		pods[idx[j]].healthy = zk[j].healthy;
		pods[idx[j]].leader = zk[j].leader;
		memcpy(pods[idx[j]].check, zk[j].check, sizeof(zk[j].check));
	}
	free(answer);
}

/* ---- Kafka --------------------------------------------------------------- */

void phc_upgrade_probe_kafka(struct phc_run *run, struct phc_up_pod *pods, size_t n)
{
	const cJSON *topics = util_json_get(run->spec, "kafka.topics");
	int min_isr = (int)util_json_num(topics, "minInsyncReplicas", 1);
	struct kafka_partition_isr *parts = NULL;
	char bootstrap[1024], host[256], mapped[320];
	const char *conf[] = {NULL};
	unsigned port = PH_KAFKA_PORT, mp;
	size_t np = 0;
	int r;

	snprintf(host, sizeof(host), "%s-kafka.%s.svc", run->name, run->ns);
	r = phc_connect_map(run->p->connect_to, host, port, mapped, sizeof(mapped), &mp);
	if (r == 0)
		snprintf(bootstrap, sizeof(bootstrap), "%s:%u", mapped, mp);
	if (r == 0)
		r = kafka_isr_read(bootstrap, conf, KAFKA_TIMEOUT_MS, &parts, &np, NULL);
	for (size_t i = 0; i < n; i++) {
		struct kafka_isr_verdict v;

		if (pods[i].component != PHC_UP_KAFKA || !pods[i].exists || !pods[i].ready)
			continue;
		if (r < 0) {
			pods[i].healthy = false;
			snprintf(pods[i].check, sizeof(pods[i].check), "Kafka metadata from %.200s: %.80s",
				 host, kafka_strerror(r));
			continue;
		}
		/* A KRaft controller's node id hosts no replica: it is judged
		 * on every partition keeping its minimum ISR. */
		pods[i].healthy = kafka_isr_judge(parts, np,
						  pods[i].voter ? PH_KAFKA_CONTROLLER_ID_BASE + pods[i].ordinal
								: pods[i].ordinal,
						  min_isr, &v) == 0;
		snprintf(pods[i].check, sizeof(pods[i].check), "Kafka: %.300s", v.first);
	}
	free(parts);
}

/* ---- ClickHouse ---------------------------------------------------------- */

static int64_t row_int(const cJSON *rows, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), key);

	/* 64-bit integers come quoted in FORMAT JSON. */
	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	return cJSON_IsNumber(v) && util_fits_int64(v->valuedouble) ? (int64_t)v->valuedouble : -1;
}

struct ch_probe {
	struct phc_ch_health h;
	char err[512];
};

static int query_int(struct ch_client *ch, const char *sql, const char *key, int64_t *out,
		     struct ch_probe *pr)
{
	cJSON *rows = NULL;
	int r = ch_query(ch, sql, &rows, pr->err, sizeof(pr->err));

	if (r == 0)
		*out = row_int(rows, key);
	cJSON_Delete(rows);
	return r;
}

int phc_ch_read_health(struct ch_client *ch, struct phc_ch_health *h, char *err, size_t errlen)
{
	struct ch_probe pr = {{0}};
	int64_t tables = 0, inactive = 0, has_dq = 0;
	int r;

	r = query_int(ch, "SELECT count() AS t FROM system.replicas", "t", &tables, &pr);
	if (r == 0)
		r = query_int(ch, "SELECT toUInt64(countIf(is_readonly OR is_session_expired)) AS i "
				  "FROM system.replicas", "i", &inactive, &pr);
	if (r == 0)
		r = query_int(ch, "SELECT toUInt64(max(absolute_delay)) AS d FROM system.replicas", "d",
			      &pr.h.max_delay, &pr);
	if (r == 0)
		r = query_int(ch, "SELECT count() AS n FROM system.replication_queue", "n", &pr.h.queue, &pr);
	if (r == 0)
		r = query_int(ch, "SELECT count() AS n FROM system.tables WHERE database = 'system' "
				  "AND name = 'distribution_queue'", "n", &has_dq, &pr);
	pr.h.distribution = -1;
	if (r == 0 && has_dq > 0)
		r = query_int(ch, "SELECT toUInt64(sum(data_files)) AS n FROM system.distribution_queue",
			      "n", &pr.h.distribution, &pr);
	pr.h.tables = (int)tables;
	pr.h.inactive = (int)inactive;
	if (r < 0) {
		snprintf(err, errlen, "%s", pr.err);
		return r;
	}
	*h = pr.h;
	return 0;
}

static int ch_probe_fn(struct ch_client *ch, void *userdata)
{
	struct ch_probe *pr = userdata;

	return phc_ch_read_health(ch, &pr->h, pr->err, sizeof(pr->err));
}

/* "<ph>-clickhouse-<shard>-<replica>": the replica's coordinates. */
void phc_upgrade_probe_clickhouse(struct phc_run *run, struct phc_up_pod *pods, size_t n,
				  bool *no_distribution_queue)
{
	*no_distribution_queue = false;
	for (size_t i = 0; i < n; i++) {
		struct ch_probe pr = {{0}};
		char msg[512] = "";
		int r;

		if (pods[i].component != PHC_UP_CLICKHOUSE || !pods[i].exists || !pods[i].ready)
			continue;
		r = phc_clickhouse_with(run, (unsigned)pods[i].shard, (unsigned)pods[i].ordinal,
					ch_probe_fn, &pr, msg, sizeof(msg));
		if (r < 0) {
			pods[i].healthy = false;
			snprintf(pods[i].check, sizeof(pods[i].check), "ClickHouse: %.290s",
				 msg[0] ? msg : pr.err[0] ? pr.err : strerror(-r));
			continue;
		}
		if (pr.h.distribution < 0)
			*no_distribution_queue = true;
		pods[i].healthy = phc_ch_judge(&pr.h, CH_MAX_DELAY_S, pods[i].check, sizeof(pods[i].check));
	}
}
