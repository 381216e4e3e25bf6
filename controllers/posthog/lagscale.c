/*
 * The lag autoscaler: for each plugin-server Deployment whose entry
 * carries "lagAutoscaling" (autoscaling.metric lag), reads the consumer
 * group's lag through librdkafka, decides the replica count with the pure
 * ph_lag_decide() and applies it. docs/autoscaling.md describes the whole.
 *
 * The replica count is applied by server-side apply of spec.replicas alone
 * as its own field manager (PHC_AUTOSCALER_MANAGER), forced: the main
 * apply leaves replicas out with autoscaling on (the handover in
 * children.c keeps the count while it changes hands), and no HPA exists,
 * so nothing else writes the field.
 *
 * The recommendations of the stabilization windows live in memory, per
 * Deployment, as the HPA controller keeps its own: an operator restart
 * starts the windows afresh, which can only delay a scale-down.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/posthog/autoscale.h"
#include "controller-private.h"
#include "pkg/kafka/kafka.h"
#include "pkg/util/util.h"

#define LAG_TIMEOUT_MS 5000
/* Deployments whose windows are remembered; past it the least recently
 * read one is forgotten. 16 PostHogs of 64 buckets with both roles. */
#define LAG_STATES 2048

struct phc_lag_state {
	char key[160];              /* namespace/deployment */
	struct ph_lag_history h;
	uint64_t read_ms;           /* monotonic time of the last read; 0: none */
	struct kafka_lag lag;
	char error[512];            /* the last read's failure, "" after a success */
	bool scaled;                /* the fields below are set */
	char at[KUBE_TIME_LEN];
	int from, to;
	int64_t scale_lag;
	char reason[256];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define M_LAG "posthog_bucket_consumer_lag"
#define M_LAG_HELP "Messages a bucket's plugin-server consumer group has not committed yet " \
		   "(autoscaling metric lag)."
#define M_REPLICAS "posthog_bucket_autoscaler_replicas"
#define M_REPLICAS_HELP "Replicas the lag autoscaler last set or kept."
#define M_DECISIONS "posthog_autoscaler_decisions_total"
#define M_DECISIONS_HELP "Lag autoscaler decisions: up and down changed the replica count, " \
			 "hold kept it, error could not read the lag."

void phc_lag_declare_metrics(struct metrics *m)
{
	/* Named on /metrics before the first autoscaled bucket, for the
	 * dashboard's lag panels. */
	(void)metrics_gauge_declare(m, M_LAG, M_LAG_HELP);
	(void)metrics_gauge_declare(m, M_REPLICAS, M_REPLICAS_HELP);
	(void)metrics_counter_declare(m, M_DECISIONS, M_DECISIONS_HELP);
}

void phc_lag_free(struct posthog_controller *p)
{
	free(p->lag_states);
	p->lag_states = NULL;
	p->nlag_states = 0;
}

/* Copies the state of key into *st (a fresh one when unknown). */
static void state_load(struct posthog_controller *p, const char *key, struct phc_lag_state *st)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	snprintf(st->key, sizeof(st->key), "%s", key);
	pthread_mutex_lock(&p->lag_lock);
	for (i = 0; i < p->nlag_states; i++)
		if (!strcmp(p->lag_states[i].key, key)) {
			*st = p->lag_states[i];
			break;
		}
	pthread_mutex_unlock(&p->lag_lock);
}

static void state_store(struct posthog_controller *p, const struct phc_lag_state *st)
{
	size_t i, oldest = 0;

	pthread_mutex_lock(&p->lag_lock);
	if (!p->lag_states) {
		p->lag_states = util_xcalloc(LAG_STATES, sizeof(*p->lag_states));
	}
	for (i = 0; i < p->nlag_states; i++) {
		if (!strcmp(p->lag_states[i].key, st->key))
			break;
		if (p->lag_states[i].read_ms < p->lag_states[oldest].read_ms)
			oldest = i;
	}
	if (i == p->nlag_states) {
		if (p->nlag_states < LAG_STATES)
			p->nlag_states++;
		else
			i = oldest;
	}
	p->lag_states[i] = *st;
	pthread_mutex_unlock(&p->lag_lock);
}

/* Reads key of the Secret named name into out (NUL-terminated). */
static int secret_value(struct phc_run *run, const char *name, const char *key, char *out,
			size_t outsz, char *msg, size_t msglen)
{
	struct kube_status st = {0};
	cJSON *obj = NULL;
	const cJSON *v;
	size_t n;
	int len, r = 0;

	r = secretcache_get(run->p->secrets, run->ns, name, &obj, &st);
	if (r < 0) {
		snprintf(msg, msglen, "reading Secret %s/%s for the Kafka credentials: %s", run->ns,
			 name, st.message[0] ? st.message : kube_strerror(r));
		return r;
	}
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), key);
	n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
	len = n && n % 4 == 0 && n / 4 * 3 < outsz
		      ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)v->valuestring,
					(int)n)
		      : -1;
	if (len < 0) {
		snprintf(msg, msglen, "Secret %s/%s has no usable key \"%s\"", run->ns, name, key);
		r = -EKEYREJECTED;
	} else {
		for (size_t pad = 0; pad < 2 && v->valuestring[n - 1 - pad] == '='; pad++)
			len--;
		out[len] = '\0';
		if (strlen(out) != (size_t)len) {
			snprintf(msg, msglen, "Secret %s/%s key \"%s\" holds a NUL byte", run->ns,
				 name, key);
			r = -EKEYREJECTED;
		}
	}
	secretcache_obj_free(obj);
	return r;
}

/* librdkafka settings for spec.kafka.external's TLS and SASL: conf[] gets
 * "name=value" strings in buf. */
struct kconf {
	const char *v[8];
	char buf[4][4096];
};

static int kafka_security(struct phc_run *run, struct kconf *k, char *msg, size_t msglen)
{
	const cJSON *ext = util_json_get(run->spec, "kafka.external");
	const cJSON *tls = cJSON_GetObjectItemCaseSensitive(ext, "tls");
	const cJSON *sasl = cJSON_GetObjectItemCaseSensitive(ext, "sasl");
	const cJSON *ca = cJSON_GetObjectItemCaseSensitive(tls, "caSecret");
	bool tls_on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tls, "enabled"));
	char val[3072];
	int n = 0, r;

	k->v[n++] = "log_level=4";
	if (sasl)
		k->v[n++] = tls_on ? "security.protocol=sasl_ssl" : "security.protocol=sasl_plaintext";
	else if (tls_on)
		k->v[n++] = "security.protocol=ssl";
	if (tls_on && ca && util_json_str(ca, "name")) {
		r = secret_value(run, util_json_str(ca, "name"),
				 util_json_str(ca, "key") ? util_json_str(ca, "key") : "ca.crt", val, sizeof(val),
				 msg, msglen);
		if (r < 0)
			return r;
		snprintf(k->buf[0], sizeof(k->buf[0]), "ssl.ca.pem=%s", val);
		k->v[n++] = k->buf[0];
	}
	if (sasl) {
		const char *secret = util_json_str(sasl, "secretName");
		const char *uk = util_json_str(sasl, "usernameKey") ? util_json_str(sasl, "usernameKey") : "username";
		const char *pk = util_json_str(sasl, "passwordKey") ? util_json_str(sasl, "passwordKey") : "password";

		snprintf(k->buf[1], sizeof(k->buf[1]), "sasl.mechanisms=%s",
			 util_json_str(sasl, "mechanism") ? util_json_str(sasl, "mechanism") : "PLAIN");
		k->v[n++] = k->buf[1];
		if ((r = secret_value(run, secret, uk, val, sizeof(val), msg, msglen)) < 0)
			return r;
		snprintf(k->buf[2], sizeof(k->buf[2]), "sasl.username=%s", val);
		k->v[n++] = k->buf[2];
		r = secret_value(run, secret, pk, val, sizeof(val), msg, msglen);
		if (r == 0) {
			snprintf(k->buf[3], sizeof(k->buf[3]), "sasl.password=%s", val);
			k->v[n++] = k->buf[3];
		}
		OPENSSL_cleanse(val, sizeof(val));
		if (r < 0)
			return r;
	}
	k->v[n] = NULL;
	return 0;
}

static int read_lag(struct phc_run *run, const cJSON *a, struct kafka_lag *out, char *msg,
		    size_t msglen)
{
	struct kconf k;
	struct kafka_lag_options o = {.connect_to = run->p->connect_to,
				      .timeout_ms = LAG_TIMEOUT_MS, .log = run->p->log};
	char boot[2048];
	int r;

	memset(&k, 0, sizeof(k));
	if (ph_kafka_bootstrap(run->name, run->ns, run->spec, boot, sizeof(boot)) < 0) {
		snprintf(msg, msglen, "the Kafka bootstrap list is too long");
		return -ENOSPC;
	}
	r = kafka_security(run, &k, msg, msglen);
	if (r == 0) {
		o.bootstrap = boot;
		o.conf = k.v;
		r = kafka_group_lag(&o, util_json_str(a, "group"), util_json_str(a, "topic"), out);
		if (r < 0)
			snprintf(msg, msglen, "reading the lag of group %s on topic %s from %s: %s",
				 util_json_str(a, "group"), util_json_str(a, "topic"), boot, kafka_strerror(r));
		/* Refused: the SASL credentials are read again next time. */
		if (r == -EACCES && util_json_get_str(run->spec, "kafka.external.sasl.secretName", NULL))
			secretcache_forget(run->p->secrets, run->ns,
					   util_json_get_str(run->spec, "kafka.external.sasl.secretName", NULL));
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return r;
}

/* Applies spec.replicas alone, as the autoscaler's own field manager. */
static int apply_replicas(struct phc_run *run, const char *name, int replicas,
			  struct kube_status *st)
{
	struct kube_apply_options ao = {.field_manager = PHC_AUTOSCALER_MANAGER, .force = true};
	cJSON *obj = cJSON_CreateObject(), *m;
	int r;

	if (!obj)
		abort();
	cJSON_AddStringToObject(obj, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(obj, "kind", "Deployment");
	m = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddStringToObject(m, "namespace", run->ns);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(obj, "spec"), "replicas", replicas);
	r = kube_apply(run->p->client, &run->p->child_res[PHC_DEPLOYMENT], run->ns, name, obj,
		       &ao, NULL, st);
	cJSON_Delete(obj);
	return r;
}

/* The last scale that the PostHog's status remembers, for a state the
 * operator has not seen since it started. */
static void seed_from_status(struct phc_run *run, unsigned bucket, const char *role,
			     struct phc_lag_state *st)
{
	const cJSON *e, *ls = NULL;

	cJSON_ArrayForEach(e, util_json_get(run->ph, "status.buckets"))
		if ((unsigned)util_json_num(e, "bucket", -1) == bucket)
			ls = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, role), "lastScale");
	if (!cJSON_IsObject(ls) || !util_json_str(ls, "time"))
		return;
	st->scaled = true;
	snprintf(st->at, sizeof(st->at), "%s", util_json_str(ls, "time"));
	st->from = (int)util_json_num(ls, "from", 0);
	st->to = (int)util_json_num(ls, "to", 0);
	st->scale_lag = (int64_t)util_json_num(ls, "lag", 0);
	snprintf(st->reason, sizeof(st->reason), "%s",
		 util_json_str(ls, "reason") ? util_json_str(ls, "reason") : "");
}

static void show_status(cJSON *role_status, const cJSON *a, const struct phc_lag_state *st)
{
	cJSON *l, *s;

	if (!role_status)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(role_status, "lag");
	cJSON_DeleteItemFromObjectCaseSensitive(role_status, "lastScale");
	l = cJSON_AddObjectToObject(role_status, "lag");
	cJSON_AddStringToObject(l, "group", util_json_str(a, "group"));
	cJSON_AddStringToObject(l, "topic", util_json_str(a, "topic"));
	if (st->read_ms && !st->error[0]) {
		cJSON_AddNumberToObject(l, "messages", (double)st->lag.total);
		cJSON_AddNumberToObject(l, "partitions", (double)st->lag.partitions);
	}
	if (st->error[0])
		cJSON_AddStringToObject(l, "error", st->error);
	if (!st->scaled)
		return;
	s = cJSON_AddObjectToObject(role_status, "lastScale");
	cJSON_AddStringToObject(s, "time", st->at);
	cJSON_AddNumberToObject(s, "from", st->from);
	cJSON_AddNumberToObject(s, "to", st->to);
	cJSON_AddNumberToObject(s, "lag", (double)st->scale_lag);
	cJSON_AddStringToObject(s, "reason", st->reason);
}

static void metrics_lag(struct phc_run *run, unsigned bucket, const char *role,
			const struct phc_lag_state *st, int replicas)
{
	char b[16];
	const char *l[] = {"namespace", run->ns, "posthog", run->name, "bucket", b, "role", role,
			   NULL};

	snprintf(b, sizeof(b), "%u", bucket);
	if (!st->error[0])
		metrics_gauge_set(run->p->metrics, M_LAG, M_LAG_HELP, l, (double)st->lag.total);
	metrics_gauge_set(run->p->metrics, M_REPLICAS, M_REPLICAS_HELP, l, replicas);
}

static void count_decision(struct phc_run *run, unsigned bucket, const char *role,
			   const char *direction)
{
	char b[16];
	const char *l[] = {"namespace", run->ns, "posthog", run->name, "bucket", b, "role", role,
			   "direction", direction, NULL};

	snprintf(b, sizeof(b), "%u", bucket);
	metrics_counter_add(run->p->metrics, M_DECISIONS, M_DECISIONS_HELP, l, 1);
}

/* Decides and applies; fills st. Returns 0 or the failed apply's errno. */
static int decide(struct phc_run *run, unsigned bucket, const char *role, const char *name,
		  const cJSON *a, int current, uint64_t now, struct phc_lag_state *st)
{
	struct ph_lag_policy pol = {
		.min_replicas = (int)util_json_num(a, "minReplicas", 1),
		.max_replicas = (int)util_json_num(a, "maxReplicas", 4),
		.target = (int64_t)util_json_num(a, "targetLagPerReplica", 1000),
		.up_window_s = (int)util_json_num(a, "scaleUpStabilizationSeconds", 0),
		.down_window_s = (int)util_json_num(a, "scaleDownStabilizationSeconds", 300),
	};
	struct ph_lag_input in = {.lag = st->lag.total, .partitions = (int64_t)st->lag.partitions,
				  .current = current, .now_ms = (int64_t)now};
	struct ph_lag_decision d;
	struct kube_status ks = {0};
	int r = ph_lag_decide(&pol, &st->h, &in, &d);

	if (r < 0) {
		snprintf(st->error, sizeof(st->error), "internal: lag policy out of range");
		return 0;
	}
	if (d.desired == current) {
		count_decision(run, bucket, role, "hold");
		return 0;
	}
	r = apply_replicas(run, name, d.desired, &ks);
	if (r < 0) {
		log_write(run->p->log, LOG_WARN, &run->lf, "scaling Deployment %s to %d: %s", name,
			  d.desired, ks.message[0] ? ks.message : kube_strerror(r));
		return r;
	}
	run->writes++;
	log_write(run->p->log, LOG_INFO, &run->lf, "Deployment %s scaled on lag: %d -> %d (%s)",
		  name, current, d.desired, d.reason);
	recorder_event(run->p->recorder, run->ph, "Normal", "ScaledOnLag", "Scale",
		       "Deployment %s: %d -> %d: %s", name, current, d.desired, d.reason);
	count_decision(run, bucket, role, d.desired > current ? "up" : "down");
	st->scaled = true;
	snprintf(st->at, sizeof(st->at), "%s", run->now);
	st->from = current;
	st->to = d.desired;
	st->scale_lag = st->lag.total;
	snprintf(st->reason, sizeof(st->reason), "%s", d.reason);
	return 0;
}

static int autoscale_one(struct phc_run *run, unsigned bucket, const cJSON *obj,
			 const cJSON *a, cJSON *bucket_status)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *name = util_json_str(meta, "name");
	const char *role = util_json_str(cJSON_GetObjectItemCaseSensitive(meta, "labels"), PH_LABEL_COMPONENT);
	uint64_t now = now_ms(), poll = run->p->lag_poll_ms;
	cJSON *live = informer_get(run->scope->children[PHC_DEPLOYMENT], run->ns, name);
	const cJSON *rep = util_json_get(live, "spec.replicas");
	int current = cJSON_IsNumber(rep) ? rep->valueint : 1, r = 0;
	struct phc_lag_state st;
	char key[160], old_error[512];

	if (!live || !role)
		return 0; /* applied by this reconcile: its informer event comes back */
	cJSON_Delete(live);
	snprintf(key, sizeof(key), "%s/%s", run->ns, name);
	state_load(run->p, key, &st);
	if (!st.read_ms && !st.scaled)
		seed_from_status(run, bucket, role, &st);
	if (st.read_ms && now - st.read_ms < poll) {
		/* Read less than an interval ago (this reconcile was woken by
		 * something else): show what is known, come back on time. */
		phc_requeue(run, poll - (now - st.read_ms));
		show_status(cJSON_GetObjectItemCaseSensitive(bucket_status, role), a, &st);
		return 0;
	}
	memcpy(old_error, st.error, sizeof(old_error));
	st.error[0] = '\0';
	if (read_lag(run, a, &st.lag, st.error, sizeof(st.error)) < 0) {
		if (strcmp(old_error, st.error))
			recorder_event(run->p->recorder, run->ph, "Warning", "LagUnreadable", "Scale",
				       "Deployment %s keeps %d replicas: %s", name, current, st.error);
		count_decision(run, bucket, role, "error");
	} else {
		r = decide(run, bucket, role, name, a, current, now, &st);
	}
	st.read_ms = now;
	if (r == 0)
		state_store(run->p, &st);
	show_status(cJSON_GetObjectItemCaseSensitive(bucket_status, role), a, &st);
	metrics_lag(run, bucket, role, &st, st.scaled && !strcmp(st.at, run->now) ? st.to : current);
	phc_requeue(run, poll);
	return r;
}

int phc_lag_autoscale(struct phc_run *run, unsigned bucket, cJSON *bucket_status)
{
	const cJSON *e;
	int r = 0;

	cJSON_ArrayForEach(e, run->desired) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "lagAutoscaling");
		int rr;

		if (!a || (unsigned)util_json_num(e, "bucket", -1) != bucket)
			continue;
		rr = autoscale_one(run, bucket, cJSON_GetObjectItemCaseSensitive(e, "object"), a,
				   bucket_status);
		r = r ? r : rr;
	}
	return r;
}
