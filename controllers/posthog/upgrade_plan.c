/*
 * The upgrade plan, without I/O: the order in which stateful pods are
 * restarted, the decision of what to do next, and the judgement of each
 * system's health from what it reported. upgrade.c does the reading and
 * the deleting.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "upgrade.h"

const char *phc_upgrade_component_name(int component)
{
	static const char *const names[PHC_UP_NCOMPONENTS] = {
		[PHC_UP_ZOOKEEPER] = "zookeeper",
		[PHC_UP_KAFKA] = "kafka",
		[PHC_UP_CLICKHOUSE] = "clickhouse",
	};

	return component >= 0 && component < PHC_UP_NCOMPONENTS ? names[component] : "?";
}

void phc_upgrade_track(struct phc_up_track *t, const char *update_rev, const char *old_rev)
{
	if (!update_rev || !update_rev[0] || !strcmp(t->to, update_rev))
		return;
	/* A new target. Going back to what the replaced plan started from
	 * is a rollback, and the pods then move back in reverse order. */
	if (t->to[0] && !strcmp(t->from, update_rev)) {
		snprintf(t->from, sizeof(t->from), "%s", t->to);
		t->rollback = true;
	} else {
		snprintf(t->from, sizeof(t->from), "%s", old_rev ? old_rev : update_rev);
		t->rollback = false;
	}
	snprintf(t->to, sizeof(t->to), "%s", update_rev);
}

/* The position of a pod in the forward order, as a sortable key. */
static int64_t order_key(const struct phc_up_pod *p, const bool *rollback, bool any_rollback)
{
	int64_t comp = any_rollback ? PHC_UP_NCOMPONENTS - 1 - p->component : p->component;
	/* ZooKeeper: the leader last, so the ensemble elects once. Kafka:
	 * the KRaft controllers before the brokers, which need their quorum
	 * to become ready (Strimzi's KafkaRoller rolls controller nodes
	 * first: strimzi/proposals 056-kafka-roller-kraft.md). */
	int64_t within = (int64_t)(p->component == PHC_UP_ZOOKEEPER && p->leader) << 40 |
			 (int64_t)(p->component == PHC_UP_KAFKA && !p->voter) << 39 |
			 (int64_t)p->shard << 20 | p->ordinal;

	if (rollback[p->component])
		within = ((int64_t)1 << 41) - within;
	return comp << 42 | within;
}

void phc_upgrade_order(struct phc_up_pod *pods, size_t n,
		       const bool rollback[PHC_UP_NCOMPONENTS])
{
	bool any = false;

	for (int c = 0; c < PHC_UP_NCOMPONENTS; c++)
		any = any || rollback[c];
	/* Insertion sort: a few dozen pods at most, and stable. */
	for (size_t i = 1; i < n; i++) {
		struct phc_up_pod tmp = pods[i];
		int64_t k = order_key(&tmp, rollback, any);
		size_t j = i;

		for (; j > 0 && order_key(&pods[j - 1], rollback, any) > k; j--)
			pods[j] = pods[j - 1];
		pods[j] = tmp;
	}
}

static int find_pod(const struct phc_up_pod *pods, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(pods[i].name, name))
			return (int)i;
	return -1;
}

static const char *why_not(const struct phc_up_pod *p)
{
	if (!p->exists)
		return "the pod does not exist yet";
	if (!p->updated)
		return "the pod does not run the update revision";
	if (!p->ready)
		return "the pod is not Ready";
	return p->check[0] ? p->check : "its health check failed";
}

static void set(struct phc_up_decision *d, enum phc_up_action a, int pod, const char *reason)
{
	d->action = a;
	d->pod = pod;
	d->reason = reason;
}

/* The pod the plan deleted last: has it passed its gate? Returns true when
 * the decision is made (wait or halt). */
static bool judge_inflight(const struct phc_up_pod *pods, size_t n, const struct phc_up_state *st,
			   int64_t now, int64_t timeout_s, struct phc_up_decision *d)
{
	int i = st->pod[0] ? find_pod(pods, n, st->pod) : -1;
	const struct phc_up_pod *p = i >= 0 ? &pods[i] : NULL;

	if (!st->pod[0])
		return false;
	/* Scaled away, or the target changed under it: nothing to wait for. */
	if (!p || (p->exists && !p->updated)) {
		d->gate_passed = true;
		return false;
	}
	if (p->exists && p->ready && p->healthy) {
		d->gate_passed = true;
		return false;
	}
	if (now - st->since > timeout_s) {
		set(d, PHC_UP_HALT, i, "HealthCheckFailed");
		snprintf(d->message, sizeof(d->message),
			 "halted at pod %s: %s, %" PRId64 " s after it was restarted (limit %" PRId64
			 " s); no later pod is restarted until it passes, or the spec changes",
			 p->name, why_not(p), now - st->since, timeout_s);
		return true;
	}
	set(d, PHC_UP_WAIT, i, "Restarting");
	snprintf(d->message, sizeof(d->message), "waiting for restarted pod %s: %s", p->name,
		 why_not(p));
	return true;
}

void phc_upgrade_decide(const struct phc_up_pod *pods, size_t n, const struct phc_up_state *st,
			int64_t now, int64_t timeout_s, struct phc_up_decision *d)
{
	int next = -1;

	memset(d, 0, sizeof(*d));
	d->pod = -1;
	if (judge_inflight(pods, n, st, now, timeout_s, d))
		return;
	/* An outdated pod that is not Ready serves nothing: replacing it
	 * first costs no availability, and it is how a fix (or going back)
	 * replaces a pod whose image never started. */
	for (size_t i = 0; i < n; i++) {
		if (pods[i].exists && !pods[i].updated && !pods[i].ready) {
			set(d, PHC_UP_RESTART, (int)i, "Restarting");
			snprintf(d->message, sizeof(d->message),
				 "restarting %s (not Ready, on an old revision)", pods[i].name);
			return;
		}
	}
	for (size_t i = 0; i < n && next < 0; i++)
		if (!pods[i].updated && pods[i].exists)
			next = (int)i;
	if (next < 0) {
		set(d, PHC_UP_DONE, -1, "Complete");
		snprintf(d->message, sizeof(d->message), "every pod runs its update revision");
		return;
	}
	/* Before touching a pod, every pod must be serving and healthy: the
	 * pod about to go is then the only one missing (a ClickHouse shard
	 * keeps a replica, Kafka's partitions keep their ISR, ZooKeeper its
	 * quorum). */
	for (size_t i = 0; i < n; i++) {
		const struct phc_up_pod *p = &pods[i];
		const char *why = !p->exists ? "the pod does not exist yet"
				  : !p->ready ? "the pod is not Ready"
				  : !p->healthy ? (p->check[0] ? p->check : "its health check failed")
						: NULL;

		if (!why)
			continue;
		/* A pod restarted onto the update revision that never became
		 * Ready: the plan halts there even when its memory of the
		 * restart (st) was lost. */
		if (p->exists && p->updated && !p->ready && p->unready_since > 0 &&
		    now - p->unready_since > timeout_s) {
			set(d, PHC_UP_HALT, (int)i, "HealthCheckFailed");
			snprintf(d->message, sizeof(d->message),
				 "halted at pod %s: the pod is not Ready, for %" PRId64
				 " s on its update revision (limit %" PRId64 " s); no later pod is "
				 "restarted until it is Ready, or the spec changes",
				 p->name, now - p->unready_since, timeout_s);
			return;
		}
		set(d, PHC_UP_WAIT, (int)i, "WaitingForHealth");
		snprintf(d->message, sizeof(d->message), "before restarting %s, waiting for %s: %s",
			 pods[next].name, p->name, why);
		return;
	}
	set(d, PHC_UP_RESTART, next, "Restarting");
	snprintf(d->message, sizeof(d->message), "restarting %s", pods[next].name);
}

unsigned phc_upgrade_holds(const struct phc_up_pod *pods, size_t n, const struct phc_up_state *st,
			   const struct phc_up_decision *d)
{
	unsigned holds = 0;

	for (size_t i = 0; i < n; i++) {
		bool inflight = st->pod[0] && !d->gate_passed && !strcmp(pods[i].name, st->pod);

		if ((pods[i].exists && !pods[i].updated) || inflight)
			holds |= 1u << pods[i].component;
	}
	return holds;
}

/* ---- ZooKeeper ----------------------------------------------------------- */

static int parse_int(const char *s, size_t len, int *out)
{
	long v = 0;

	if (!len || len > 9)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = (int)v;
	return 0;
}

int phc_zk_parse_mntr(const char *text, size_t len, struct phc_zk_mntr *out)
{
	struct phc_zk_mntr m = {.followers = -1, .synced_followers = -1};
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *tab = memchr(p, '\t', (size_t)(eol - p));

		if (tab) {
			size_t kl = (size_t)(tab - p), vl = (size_t)(eol - tab - 1);
			const char *v = tab + 1;

			if (vl && v[vl - 1] == '\r')
				vl--;
			if (kl == 15 && !memcmp(p, "zk_server_state", kl) && vl < sizeof(m.state)) {
				memcpy(m.state, v, vl);
				m.state[vl] = '\0';
			} else if (kl == 12 && !memcmp(p, "zk_followers", kl)) {
				parse_int(v, vl, &m.followers);
			} else if (kl == 19 && !memcmp(p, "zk_synced_followers", kl)) {
				parse_int(v, vl, &m.synced_followers);
			}
		}
		p = eol + 1;
	}
	if (!m.state[0])
		return -EBADMSG;
	*out = m;
	return 0;
}

bool phc_zk_judge(const struct phc_zk_mntr *m, const bool *ok, const char *const *why,
		  size_t n, struct phc_up_pod *pods)
{
	int leaders = 0, leader = -1;
	char ens[PHC_UP_CHECK] = "";

	for (size_t i = 0; i < n; i++) {
		if (ok[i] && !strcmp(m[i].state, "leader")) {
			leaders++;
			leader = (int)i;
		}
	}
	if (n == 1 && ok[0] && !strcmp(m[0].state, "standalone"))
		leaders = 1, leader = 0;
	else if (leaders != 1)
		snprintf(ens, sizeof(ens), "the ensemble has %d leaders (zk_server_state), not one",
			 leaders);
	else if (n > 1 && m[leader].synced_followers != (int)n - 1)
		snprintf(ens, sizeof(ens),
			 "leader %s has %d of %zu followers synced (zk_synced_followers)",
			 pods[leader].name, m[leader].synced_followers < 0 ? 0 : m[leader].synced_followers,
			 n - 1);
	for (size_t i = 0; i < n; i++) {
		struct phc_up_pod *p = &pods[i];
		bool serving = ok[i] && (!strcmp(m[i].state, "leader") || !strcmp(m[i].state, "follower") ||
					 (n == 1 && !strcmp(m[i].state, "standalone")));

		p->leader = (int)i == leader && leaders == 1;
		p->healthy = serving && !ens[0];
		if (!ok[i])
			snprintf(p->check, sizeof(p->check), "ZooKeeper mntr: %s",
				 why && why[i] ? why[i] : "no answer");
		else if (!serving)
			snprintf(p->check, sizeof(p->check), "ZooKeeper zk_server_state is %s",
				 m[i].state);
		else
			snprintf(p->check, sizeof(p->check), "%s", ens);
	}
	return !ens[0];
}

/* ---- ClickHouse ---------------------------------------------------------- */

bool phc_ch_judge(const struct phc_ch_health *h, int64_t max_delay, char *check, size_t checklen)
{
	check[0] = '\0';
	if (h->inactive > 0)
		snprintf(check, checklen, "ClickHouse system.replicas: %d of %d tables not active",
			 h->inactive, h->tables);
	else if (h->max_delay > max_delay)
		snprintf(check, checklen,
			 "ClickHouse system.replicas: absolute_delay %" PRId64 " s (limit %" PRId64 ")",
			 h->max_delay, max_delay);
	else if (h->queue > 0)
		snprintf(check, checklen, "ClickHouse system.replication_queue: %" PRId64
			 " entries not yet done", h->queue);
	else if (h->distribution > 0)
		snprintf(check, checklen, "ClickHouse system.distribution_queue: %" PRId64
			 " files not yet sent", h->distribution);
	return !check[0];
}

/* ---- connect-to mappings ------------------------------------------------- */

/* The next ':'-separated field of s (a bracketed IPv6 address is one). */
static const char *field(const char *s, const char **start, size_t *len)
{
	const char *e;

	if (*s == '[' && (e = strchr(s, ']')) && (e[1] == ':' || !e[1])) {
		*start = s + 1;
		*len = (size_t)(e - s - 1);
		return e[1] ? e + 2 : e + 1;
	}
	e = strchr(s, ':');
	*start = s;
	*len = e ? (size_t)(e - s) : strlen(s);
	return e ? e + 1 : s + *len;
}

static bool parse_port(const char *s, size_t len, unsigned *out)
{
	int v;

	if (parse_int(s, len, &v) < 0 || v <= 0 || v > 65535)
		return false;
	*out = (unsigned)v;
	return true;
}

int phc_connect_map(const char *const *map, const char *host, unsigned port, char *out_host,
		    size_t hostlen, unsigned *out_port)
{
	for (size_t i = 0; map && map[i]; i++) {
		const char *f[4], *s = map[i];
		size_t l[4];
		unsigned p = 0, cp = port;

		for (int k = 0; k < 4; k++)
			s = field(s, &f[k], &l[k]);
		if (l[0] && (strlen(host) != l[0] || strncmp(host, f[0], l[0])))
			continue;
		if (l[1] && (!parse_port(f[1], l[1], &p) || p != port))
			continue;
		if (l[3] && !parse_port(f[3], l[3], &cp))
			continue;
		if (l[2] ? l[2] >= hostlen : strlen(host) >= hostlen)
			return -ENAMETOOLONG;
		if (l[2]) {
			memcpy(out_host, f[2], l[2]);
			out_host[l[2]] = '\0';
		} else {
			snprintf(out_host, hostlen, "%s", host);
		}
		*out_port = cp;
		return 0;
	}
	if (strlen(host) >= hostlen)
		return -ENAMETOOLONG;
	snprintf(out_host, hostlen, "%s", host);
	*out_port = port;
	return 0;
}

bool phc_upgrade_sts_settled(const cJSON *sts)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(sts, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(sts, "status");
	double want = util_json_num(cJSON_GetObjectItemCaseSensitive(sts, "spec"), "replicas", 1);

	return util_json_get_str(sts, "status.updateRevision", NULL) &&
	       util_json_num(st, "observedGeneration", 0) >= util_json_num(meta, "generation", 0) &&
	       util_json_num(st, "replicas", 0) == want &&
	       util_json_num(st, "updatedReplicas", 0) == want;
}

/* ---- plugin-server Deployments ------------------------------------------- */

bool phc_rollout_complete(const cJSON *deployment, char *why, size_t whylen)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(deployment, "metadata");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(deployment, "status");
	const char *name = util_json_str(meta, "name");
	int64_t want = (int64_t)util_json_num(cJSON_GetObjectItemCaseSensitive(deployment, "spec"),
					      "replicas", 1);
	int64_t replicas = (int64_t)util_json_num(st, "replicas", 0);
	int64_t updated = (int64_t)util_json_num(st, "updatedReplicas", 0);
	int64_t available = (int64_t)util_json_num(st, "availableReplicas", 0);

	why[0] = '\0';
	if (!name)
		name = "?";
	if (util_json_num(st, "observedGeneration", 0) < util_json_num(meta, "generation", 0))
		snprintf(why, whylen, "Deployment %s: its new spec is not yet observed", name);
	else if (updated < want)
		snprintf(why, whylen, "Deployment %s: %" PRId64 " of %" PRId64 " replicas updated", name,
			 updated, want);
	else if (replicas > updated)
		snprintf(why, whylen, "Deployment %s: %" PRId64 " old replicas not yet gone", name,
			 replicas - updated);
	else if (available < updated)
		snprintf(why, whylen, "Deployment %s: %" PRId64 " of %" PRId64
			 " updated replicas available", name, available, updated);
	return !why[0];
}
