/*
 * Reaching ClickHouse, and keeping each bucket's ClickHouse tables.
 *
 * In the cluster the operator talks to every replica by its Service's DNS
 * name. Outside it (the demo, e2e tests on the local API server, a laptop)
 * it goes through the API server's service proxy, with the client's own
 * credentials; an external ClickHouse is always reached directly.
 *
 * PostHog's migrations own the base tables. For each bucket the operator
 * derives kafka_events_json_N and events_json_mv_N from the definitions the
 * server reports (schema.c), and applies them on every replica itself, so
 * nothing depends on distributed DDL. With KafkaPrefix routing the other
 * Kafka tables fed by prefixed topics get per-bucket copies the same way
 * (prefixed.h). Before that, a replica that lacks
 * tables of the PostHog database (one added after the migrations ran)
 * gets them from a healthy one (replicate.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "pkg/clickhouse/clickhouse.h"
#include "chreplica.h"
#include "controller-private.h"
#include "api/posthog/prefixed.h"
#include "replicate_io.h"
#include "api/posthog/schema.h"

/* Longest password read from the Secret. */
#define PHC_MAX_PASSWORD 4096

struct proxy_ctx {
	struct kube_client *client;
	char prefix[512]; /* /api/v1/namespaces/<ns>/services/<svc>:<port>/proxy */
};

static int proxy_transport(void *userdata, const char *path_query,
			   const char *const *headers, const char *body,
			   size_t body_len, struct buf *out, int *http_code)
{
	struct proxy_ctx *px = userdata;
	struct buf path;
	int r;

	buf_init(&path, 4096);
	r = buf_printf(&path, "%s%s", px->prefix, path_query);
	if (r == 0)
		r = kube_raw(px->client, "POST", buf_str(&path), headers, body,
			     body_len, out, http_code);
	buf_free(&path);
	return r;
}

/* Decodes base64 into out (NUL-terminated), its length in *outlen (a NUL
 * inside the value is kept, for the caller to refuse). Returns 0 or
 * -EINVAL. */
static int b64decode(const char *in, char *out, size_t outsz, size_t *outlen)
{
	size_t n = strlen(in), pad = 0;
	int len;

	if (n % 4 || (n / 4) * 3 + 1 > outsz)
		return -EINVAL;
	len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -EINVAL;
	while (pad < 2 && n > pad && in[n - 1 - pad] == '=')
		pad++;
	out[len - (int)pad] = '\0';
	*outlen = (size_t)(len - (int)pad);
	return 0;
}

/* Reads the admin password from its Secret into out. */
static int read_password(struct phc_run *run, char *out, size_t outsz,
			 const char **user, char *msg, size_t msglen)
{
	const char *secret, *key;
	const cJSON *data, *val;
	cJSON *obj = NULL;
	struct kube_status st;
	size_t len = 0, bad = 0;
	int r;

	out[0] = '\0';
	if (ph_clickhouse_credentials(run->spec, user, &secret, &key) < 0 || !secret)
		return 0; /* no Secret: the user has no password */
	r = secretcache_get(run->p->secrets, run->ns, secret, &obj, &st);
	if (r < 0) {
		snprintf(msg, msglen, "reading Secret %s/%s for the ClickHouse credentials: %s",
			 run->ns, secret, st.message[0] ? st.message : kube_strerror(r));
		return r;
	}
	data = cJSON_GetObjectItemCaseSensitive(obj, "data");
	val = cJSON_GetObjectItemCaseSensitive(data, key);
	if (!cJSON_IsString(val) || b64decode(val->valuestring, out, outsz, &len) < 0) {
		snprintf(msg, msglen, "Secret %s/%s has no valid key \"%s\" with the ClickHouse password",
			 run->ns, secret, key);
		r = -EKEYREJECTED;
	} else if (ch_credential_clean(out, &len, &bad) < 0) {
		/* The password goes into a request header: a CR or LF there
		 * would add headers, or a whole request, of the Secret's
		 * choosing. The byte is named, never the password. */
		snprintf(msg, msglen,
			 "Secret %s/%s key \"%s\": the ClickHouse password holds control character "
			 "0x%02X at byte %zu; only one trailing newline is ignored, fix the Secret",
			 run->ns, secret, key, (unsigned char)out[bad], bad);
		OPENSSL_cleanse(out, outsz);
		r = -EKEYREJECTED;
	}
	secretcache_obj_free(obj);
	return r;
}

int phc_ch_check_password(struct phc_run *run, char *msg, size_t msglen)
{
	char password[PHC_MAX_PASSWORD];
	const char *user = NULL;
	int r = read_password(run, password, sizeof(password), &user, msg, msglen);

	OPENSSL_cleanse(password, sizeof(password));
	return r;
}

/* A refused password is read again from its Secret next time: it may
 * have been rotated. */
static void forget_refused(struct phc_run *run, int r)
{
	const char *user, *secret, *key;

	if (r == -EACCES && ph_clickhouse_credentials(run->spec, &user, &secret, &key) == 0 && secret)
		secretcache_forget(run->p->secrets, run->ns, secret);
}

struct replica {
	struct ch_client *ch;
	struct proxy_ctx px;
	char label[320];
};

static int open_replica(struct phc_run *run, const struct ph_clickhouse_endpoint *ep,
			const char *user, const char *password, struct replica *rep)
{
	/* No log for the client: its failures come back in msg and are
	 * logged once, with the PostHog's name, by the caller. */
	struct ch_options o = {.user = user, .password = password,
			       .tls_verify = ep->verify};
	const char *db = NULL;
	char url[384];
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(run->spec, "clickhouse");

	db = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ch, "database"))
		     ? cJSON_GetObjectItemCaseSensitive(ch, "database")->valuestring : NULL;
	o.database = db;
	snprintf(rep->label, sizeof(rep->label), "%s", ep->service[0] ? ep->service : ep->host);
	if (ep->service[0] && run->p->clickhouse_via_proxy) {
		rep->px.client = run->p->client;
		snprintf(rep->px.prefix, sizeof(rep->px.prefix),
			 "/api/v1/namespaces/%s/services/%s:%u/proxy", run->ns,
			 ep->service, ep->port);
		o.transport = proxy_transport;
		o.transport_userdata = &rep->px;
	} else {
		snprintf(url, sizeof(url), "%s://%s:%u", ep->secure ? "https" : "http",
			 ep->host, ep->port);
		o.url = url;
		o.connect_to = run->p->connect_to;
	}
	return ch_new(&o, &rep->ch);
}

/* Every replica's endpoint, shard by shard; a new array (caller frees) of
 * *n entries. */
static struct ph_clickhouse_endpoint *endpoints(struct phc_run *run, int *n)
{
	struct ph_clickhouse_endpoint ep, *eps = NULL;

	*n = 0;
	for (unsigned s = 0; ph_clickhouse_endpoint(run->name, run->ns, run->spec, s, 0, &ep) == 0; s++) {
		for (unsigned r = 0; ph_clickhouse_endpoint(run->name, run->ns, run->spec, s, r, &ep) == 0; r++) {
			eps = realloc(eps, sizeof(*eps) * (size_t)(*n + 1));
			if (!eps)
				abort();
			eps[(*n)++] = ep;
		}
	}
	return eps;
}

/* Opens a client per replica. Returns the count, or a negative errno. The
 * array is allocated once: each client keeps a pointer to its replica's
 * proxy context. */
static int open_replicas(struct phc_run *run, struct replica **out, char *msg,
			 size_t msglen)
{
	char password[PHC_MAX_PASSWORD];
	const char *user = NULL;
	struct ph_clickhouse_endpoint *eps;
	struct replica *reps;
	int n, opened = 0, r;

	r = read_password(run, password, sizeof(password), &user, msg, msglen);
	if (r < 0)
		return r;
	eps = endpoints(run, &n);
	reps = calloc((size_t)(n ? n : 1), sizeof(*reps));
	if (!reps)
		abort();
	for (; opened < n; opened++) {
		r = open_replica(run, &eps[opened], user, password, &reps[opened]);
		if (r < 0) {
			snprintf(msg, msglen, "ClickHouse client for %s: %s", eps[opened].host,
				 strerror(-r));
			break;
		}
	}
	OPENSSL_cleanse(password, sizeof(password));
	free(eps);
	if (r < 0) {
		for (int i = 0; i < opened; i++)
			ch_free(reps[i].ch);
		free(reps);
		return r;
	}
	*out = reps;
	return n;
}

static void close_replicas(struct replica *reps, int n)
{
	for (int i = 0; i < n; i++)
		ch_free(reps[i].ch);
	free(reps);
}

int phc_clickhouse_with(struct phc_run *run, unsigned shard, unsigned replica,
			int (*fn)(struct ch_client *ch, void *userdata), void *userdata,
			char *msg, size_t msglen)
{
	char password[PHC_MAX_PASSWORD];
	const char *user = NULL;
	struct ph_clickhouse_endpoint ep;
	struct replica *rep;
	int r;

	if (ph_clickhouse_endpoint(run->name, run->ns, run->spec, shard, replica, &ep) < 0) {
		snprintf(msg, msglen, "no ClickHouse replica %u of shard %u", replica, shard);
		return -EINVAL;
	}
	r = read_password(run, password, sizeof(password), &user, msg, msglen);
	if (r < 0)
		return r;
	/* Allocated: the client keeps a pointer to the proxy context. */
	rep = calloc(1, sizeof(*rep));
	if (!rep)
		abort();
	r = open_replica(run, &ep, user, password, rep);
	OPENSSL_cleanse(password, sizeof(password));
	if (r < 0)
		snprintf(msg, msglen, "ClickHouse client for %s: %s", ep.host, strerror(-r));
	else
		r = fn(rep->ch, userdata);
	forget_refused(run, r);
	ch_free(rep->ch);
	free(rep);
	return r;
}

/* ---- the per-bucket schema ----------------------------------------------- */

static const char *database_of(const cJSON *spec)
{
	const cJSON *db = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(spec, "clickhouse"), "database");

	return cJSON_IsString(db) ? db->valuestring : "posthog";
}

/* The definitions on one replica: every table of the PostHog database
 * (name, engine, create_table_query), so that the base, bucket and
 * prefixed-topic tables and the copy onto new replicas read one answer. */
static int read_tables(struct replica *rep, const char *db, cJSON **rows,
		       char *msg, size_t msglen)
{
	return ph_replicate_read(rep->ch, db, rows, msg, msglen);
}

static const char *definition(const cJSON *rows, const char *name)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(row, "name");
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(row, "create_table_query");

		if (cJSON_IsString(n) && cJSON_IsString(q) && !strcmp(n->valuestring, name))
			return q->valuestring;
	}
	return NULL;
}

static int run_stmts(struct replica *rep, const struct ph_schema_stmts *s,
		     struct phc_run *run, char *msg, size_t msglen)
{
	for (size_t i = 0; i < s->n; i++) {
		int r = ch_exec(rep->ch, s->sql[i], msg, msglen);

		if (r < 0)
			return r;
		log_write(run->p->log, LOG_INFO, &run->lf, "ClickHouse %s: %.120s", rep->label,
			  s->sql[i]);
	}
	return 0;
}

/* Who owns db's bucket tables on one replica: PH_OWNER_* (the owner's
 * name in other), or a negative errno with the server's message in msg. */
static int owner_of(struct phc_run *run, struct replica *rep, const char *db, char *other,
		    size_t othersz, char *msg, size_t msglen)
{
	cJSON *rows = NULL;
	struct buf q;
	int r;

	buf_init(&q, 4096);
	r = ph_schema_owner_query(db, &q);
	if (r == 0)
		r = ch_query(rep->ch, buf_str(&q), &rows, msg, msglen);
	buf_free(&q);
	if (r == 0)
		r = ph_schema_owner_match(rows, run->ns, run->name, other, othersz);
	cJSON_Delete(rows);
	return r;
}

/*
 * Claims db's bucket tables for this PostHog on one replica, unless another
 * PostHog holds them: then -EEXIST, with a message saying whose they are.
 * Of two PostHogs claiming at once, the CREATE of one fails; it reads the
 * winner back.
 */
static int claim_database(struct phc_run *run, struct replica *rep, const char *db,
			  char *msg, size_t msglen)
{
	char other[600] = "";
	struct buf q;
	int r = owner_of(run, rep, db, other, sizeof(other), msg, msglen);

	if (r == PH_OWNER_NONE) {
		buf_init(&q, 4096);
		r = ph_schema_owner_create(db, run->ns, run->name, &q);
		if (r == 0)
			r = ch_exec(rep->ch, buf_str(&q), msg, msglen);
		buf_free(&q);
		if (r == 0) {
			log_write(run->p->log, LOG_INFO, &run->lf,
				  "ClickHouse %s: claimed the bucket tables of database %s", rep->label, db);
			r = PH_OWNER_US;
		} else {
			r = owner_of(run, rep, db, other, sizeof(other), msg, msglen);
		}
		if (r == PH_OWNER_NONE)
			r = -EIO; /* neither created nor there: msg has the server's word */
	}
	if (r == PH_OWNER_OTHER) {
		snprintf(msg, msglen,
			 "ClickHouse database %s on %s holds the bucket tables of PostHog %s (see %s.%s): "
			 "this PostHog creates, changes and drops none of them; give it a database of "
			 "its own in spec.clickhouse.database", db, rep->label, other, db,
			 PH_SCHEMA_OWNER_TABLE);
		return -EEXIST;
	}
	return r < 0 ? r : 0;
}

/* Fills b's names for bucket index (which may be beyond the count). */
static void bucket_spec(struct phc_run *run, unsigned bucket, const char *db,
			const struct ph_bucket_names *nm, char kafka[40], char mv[40],
			const char *brokers, struct ph_schema_bucket *b)
{
	snprintf(kafka, 40, "%s_%u", PH_SCHEMA_BASE_KAFKA, bucket);
	snprintf(mv, 40, "%s_%u", PH_SCHEMA_BASE_MV, bucket);
	b->database = db;
	b->kafka_table = nm ? nm->kafka_table : kafka;
	b->mv = nm ? nm->mv_table : mv;
	b->topic = nm ? nm->events_json_topic : "";
	b->group = nm ? nm->clickhouse_group : "";
	b->brokers = brokers;
	(void)run;
}

/*
 * KafkaPrefix routing: each bucket's copies of PostHog's other Kafka
 * tables fed by prefixed topics (prefixed.h), for every pair whose base
 * tables exist on this replica; copies of buckets beyond the count, or of
 * a PostHog that routes with Env, are dropped.
 */
static int sync_prefixed(struct phc_run *run, struct replica *rep, const cJSON *rows,
			 const char *brokers, char *msg, size_t msglen)
{
	const char *db = database_of(run->spec);
	size_t np;
	const struct ph_prefixed_pair *pairs = ph_prefixed_pairs(&np);
	int r = 0;

	for (size_t i = 0; r == 0 && i < np; i++) {
		const char *bk = definition(rows, pairs[i].kafka_table);
		const char *bm = definition(rows, pairs[i].mv);

		for (unsigned b = 0; r == 0 && b < PH_MAX_BUCKETS; b++) {
			struct ph_schema_stmts s = {0};
			struct ph_prefixed_names pn;
			struct ph_bucket_names nm;
			struct ph_schema_bucket sb;
			bool live = b < run->buckets &&
				    ph_bucket_names(run->name, run->spec, b, &nm) == 0 &&
				    nm.kafka_prefix[0] && bk && bm;

			if (ph_prefixed_bucket(&pairs[i], live ? &nm : NULL, b, db, brokers, &pn,
					       &sb) < 0) {
				snprintf(msg, msglen, "bucket %u: the names of its copy of %s do not fit",
					 b, pairs[i].kafka_table);
				return -EINVAL;
			}
			if (live)
				r = ph_schema_plan(bk, bm, definition(rows, sb.kafka_table),
						   definition(rows, sb.mv), &sb, &s, msg, msglen);
			else if (definition(rows, sb.kafka_table) || definition(rows, sb.mv))
				r = ph_schema_drop(&sb, &s);
			if (r == 0)
				r = run_stmts(rep, &s, run, msg, msglen);
			ph_schema_stmts_free(&s);
		}
	}
	return r;
}

/* Syncs one replica. Returns 0, -EAGAIN (no base tables) or an error. */
static int sync_replica(struct phc_run *run, struct replica *rep, const char *brokers,
			char fp[PH_SCHEMA_FP_LEN + 1], char *msg, size_t msglen)
{
	const char *db = database_of(run->spec), *bk, *bm;
	cJSON *rows = NULL;
	int r = read_tables(rep, db, &rows, msg, msglen);

	/* A fresh install: PostHog's migrations create the database too. */
	if (r < 0 && ch_exception_code(msg) == CH_UNKNOWN_DATABASE) {
		snprintf(msg, msglen, "waiting for PostHog's migrations to create database %s on %s",
			 db, rep->label);
		return -EAGAIN;
	}
	if (r < 0)
		return r;
	bk = definition(rows, PH_SCHEMA_BASE_KAFKA);
	bm = definition(rows, PH_SCHEMA_BASE_MV);
	if (!bk || !bm) {
		snprintf(msg, msglen, "waiting for PostHog's migrations to create %s.%s and %s.%s on %s",
			 db, PH_SCHEMA_BASE_KAFKA, db, PH_SCHEMA_BASE_MV, rep->label);
		cJSON_Delete(rows);
		return -EAGAIN;
	}
	r = claim_database(run, rep, db, msg, msglen);
	if (r == 0)
		r = ph_schema_fingerprint(bk, bm, fp, msg, msglen);
	for (unsigned b = 0; r == 0 && b < PH_MAX_BUCKETS; b++) {
		struct ph_schema_stmts s = {0};
		struct ph_bucket_names nm;
		struct ph_schema_bucket sb;
		char kafka[40], mv[40];
		bool live = b < run->buckets && ph_bucket_names(run->name, run->spec, b, &nm) == 0;

		bucket_spec(run, b, db, live ? &nm : NULL, kafka, mv, brokers, &sb);
		if (live)
			r = ph_schema_plan(bk, bm, definition(rows, sb.kafka_table),
					   definition(rows, sb.mv), &sb, &s, msg, msglen);
		else if (definition(rows, kafka) || definition(rows, mv))
			r = ph_schema_drop(&sb, &s);
		if (r == 0)
			r = run_stmts(rep, &s, run, msg, msglen);
		ph_schema_stmts_free(&s);
	}
	if (r == 0)
		r = sync_prefixed(run, rep, rows, brokers, msg, msglen);
	cJSON_Delete(rows);
	return r;
}

/* True when rows (ph_replicate_read's) hold PostHog's base tables. */
static bool has_base(const cJSON *rows)
{
	return definition(rows, PH_SCHEMA_BASE_KAFKA) && definition(rows, PH_SCHEMA_BASE_MV);
}

/*
 * Copies every table of the PostHog database from the first replica that
 * has PostHog's base tables onto each replica that lacks some: a replica
 * or shard added after the migrations ran (replicate.h). When none has
 * them there is nothing to copy; sync_replica then waits for the
 * migrations.
 */
static int copy_schema(struct phc_run *run, struct replica *reps, int n, char *msg,
		       size_t msglen)
{
	const char *owned[2 + 2 * 16];
	size_t nowned = 0, np;
	const struct ph_prefixed_pair *pairs = ph_prefixed_pairs(&np);
	const char *db = database_of(run->spec);
	cJSON *rows = NULL;
	char why[1536];
	int src = -1, r = 0;

	owned[nowned++] = PH_SCHEMA_BASE_KAFKA;
	owned[nowned++] = PH_SCHEMA_BASE_MV;
	for (size_t i = 0; i < np && nowned + 2 <= sizeof(owned) / sizeof(owned[0]); i++) {
		owned[nowned++] = pairs[i].kafka_table;
		owned[nowned++] = pairs[i].mv;
	}

	for (int i = 0; n > 1 && i < n && src < 0; i++) {
		r = ph_replicate_read(reps[i].ch, db, &rows, msg, msglen);
		if (r < 0 && ch_exception_code(msg) == CH_UNKNOWN_DATABASE)
			return 0; /* no database yet: nothing to copy; sync_replica waits */
		if (r < 0)
			return r;
		if (has_base(rows))
			src = i;
		else
			cJSON_Delete(rows);
	}
	for (int i = 0; src >= 0 && i < n && r == 0; i++) {
		unsigned created = 0;

		if (i == src)
			continue;
		r = ph_replicate_copy(reps[i].ch, db, rows, owned, nowned, &created, why,
				      sizeof(why));
		if (created)
			log_write(run->p->log, LOG_INFO, &run->lf,
				  "ClickHouse %s: %u tables of %s copied from %s", reps[i].label,
				  created, db, reps[src].label);
		if (r < 0)
			snprintf(msg, msglen, "copying the tables of %s from %s to %s: %s", db,
				 reps[src].label, reps[i].label, why);
	}
	if (src >= 0)
		cJSON_Delete(rows);
	return r;
}

/* Records the base fingerprint and bucket count. The shard count is
 * recorded once, at the first sync: the shards that held data then. */
static void record_schema_status(struct phc_run *run, const char *fp)
{
	cJSON *old = cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(old, "shards");
	const cJSON *want = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(run->spec, "clickhouse"), "shards");
	double shards = cJSON_IsNumber(sh) ? sh->valuedouble
					   : cJSON_IsNumber(want) ? want->valuedouble : 1;
	cJSON *o;

	cJSON_DeleteItemFromObjectCaseSensitive(run->status, "clickhouseSchema");
	o = cJSON_AddObjectToObject(run->status, "clickhouseSchema");
	cJSON_AddStringToObject(o, "baseHash", fp);
	cJSON_AddStringToObject(o, "database", database_of(run->spec));
	cJSON_AddNumberToObject(o, "buckets", run->buckets);
	cJSON_AddNumberToObject(o, "shards", shards);
}

/*
 * A rollout brings a burst of child events, each a reconcile; the tables
 * need not be read from every replica for each of them. Once found
 * current, they are taken as current for PHC_SCHEMA_RECHECK_MS unless the
 * spec changed. PostHog's own migrations are noticed by the periodic
 * requeue of a synced PostHog (PHC_SCHEMA_POLL_MS in reconcile.c).
 */
#define PHC_SCHEMA_RECHECK_MS 30000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void schema_key(const struct phc_run *run, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/%s", run->ns, run->name);
}

static bool schema_recently_checked(struct phc_run *run)
{
	char key[512];
	const cJSON *e;
	bool fresh;

	schema_key(run, key, sizeof(key));
	pthread_mutex_lock(&run->p->schema_lock);
	e = cJSON_GetObjectItemCaseSensitive(run->p->schema_checks, key);
	fresh = e && !strcmp(cJSON_GetObjectItem(e, "uid")->valuestring, run->uid) &&
		cJSON_GetObjectItem(e, "generation")->valuedouble == (double)run->generation &&
		cJSON_GetObjectItem(e, "buckets")->valuedouble == run->buckets &&
		now_ms() - (uint64_t)cJSON_GetObjectItem(e, "at")->valuedouble < PHC_SCHEMA_RECHECK_MS;
	pthread_mutex_unlock(&run->p->schema_lock);
	return fresh && cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema");
}

static void schema_mark_checked(struct phc_run *run)
{
	cJSON *e = cJSON_CreateObject();
	char key[512];

	cJSON_AddStringToObject(e, "uid", run->uid);
	cJSON_AddNumberToObject(e, "generation", (double)run->generation);
	cJSON_AddNumberToObject(e, "buckets", run->buckets);
	cJSON_AddNumberToObject(e, "at", (double)now_ms());
	schema_key(run, key, sizeof(key));
	pthread_mutex_lock(&run->p->schema_lock);
	cJSON_DeleteItemFromObjectCaseSensitive(run->p->schema_checks, key);
	cJSON_AddItemToObject(run->p->schema_checks, key, e);
	pthread_mutex_unlock(&run->p->schema_lock);
}

void phc_schema_forget(struct posthog_controller *p, const char *key)
{
	pthread_mutex_lock(&p->schema_lock);
	cJSON_DeleteItemFromObjectCaseSensitive(p->schema_checks, key);
	pthread_mutex_unlock(&p->schema_lock);
}

static int drop_replica(struct phc_run *run, struct replica *rep, const char *db,
			char *msg, size_t msglen);

/*
 * spec.clickhouse.database changed: the bucket tables move. Those in the
 * database that status.clickhouseSchema.database recorded are dropped
 * first (where this PostHog owns them), so that no two Kafka tables
 * consume the bucket topics with the same consumer groups and split the
 * events between two databases; the sync then creates them in the new
 * database, and the consumer groups resume from their committed offsets.
 */
static int move_database(struct phc_run *run, struct replica *reps, int n, char *msg,
			 size_t msglen)
{
	const char *old = util_json_str(cJSON_GetObjectItemCaseSensitive(run->status, "clickhouseSchema"),
				  "database");
	const char *db = database_of(run->spec);
	char why[1024];
	int r = 0;

	if (!old || !strcmp(old, db))
		return 0;
	for (int i = 0; i < n && r >= 0; i++) {
		why[0] = '\0';
		r = drop_replica(run, &reps[i], old, why, sizeof(why));
		if (r == -EEXIST)
			r = 0; /* not ours there: nothing of ours consumes */
	}
	if (r < 0) {
		snprintf(msg, msglen, "moving the bucket tables from database %s to %s: dropping the old "
			 "ones failed: %s", old, db, why);
		return r;
	}
	log_write(run->p->log, LOG_INFO, &run->lf, "ClickHouse: bucket tables moved out of database %s",
		  old);
	recorder_event(run->p->recorder, run->ph, "Normal", "TablesMoved", "Reconcile",
		       "bucket tables dropped in database %s, created in %s", old, db);
	return 0;
}

/*
 * Replicas removed from a shard (replicasPerShard lowered) leave their
 * metadata in ZooKeeper: each shard's first replica drops it once the
 * removed one is inactive (chreplica.h). External ClickHouse has no
 * replicas of this operator's naming.
 */
static int tidy_removed_replicas(struct phc_run *run, struct replica *reps, int n, char *msg,
				 size_t msglen)
{
	const cJSON *zk_ext = util_json_get(run->spec, "zookeeper.external");
	struct phc_replica_drop d = {.database = database_of(run->spec),
				    .keep = (unsigned)util_json_num(cJSON_GetObjectItemCaseSensitive(
					    run->spec, "clickhouse"), "replicasPerShard", 1)};
	char hosts[4096] = "", prefix[320], why[1024];
	const cJSON *s;
	int r = 0;

	if (ph_is_external(run->spec, "clickhouse"))
		return 0;
	if (!zk_ext) {
		snprintf(hosts, sizeof(hosts), "%s-zookeeper.%s.svc:%d", run->name, run->ns,
			 PH_ZOOKEEPER_CLIENT_PORT);
	} else {
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(zk_ext, "servers"))
			if (cJSON_IsString(s) && strlen(hosts) + strlen(s->valuestring) + 2 < sizeof(hosts))
				snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s",
					 hosts[0] ? "," : "", s->valuestring);
		if (util_json_str(zk_ext, "root") && strlen(hosts) + strlen(util_json_str(zk_ext, "root")) < sizeof(hosts))
			snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s",
				 util_json_str(zk_ext, "root"));
	}
	d.zk_hosts = hosts;
	for (int i = 0; i < n && r == 0; i++) {
		size_t len = strlen(reps[i].label);

		if (len < 2 || strcmp(reps[i].label + len - 2, "-0"))
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(len - 1), reps[i].label);
		d.prefix = prefix;
		r = phc_replica_drop_removed(reps[i].ch, &d, why, sizeof(why));
		if (r < 0)
			snprintf(msg, msglen, "dropping removed replicas' metadata on %s: %s",
				 reps[i].label, why);
		else if (d.dropped)
			log_write(run->p->log, LOG_INFO, &run->lf,
				  "ClickHouse %s: metadata of %u removed replica tables dropped",
				  reps[i].label, d.dropped);
	}
	return r;
}

/* A replica added to a shard fetches the shard's parts: the ClickHouse
 * component is Ready only once no replica has a replication queue or is
 * read-only (run->ch_lag says which is not). */
static int replica_lag(struct phc_run *run, struct replica *reps, int n, char *msg, size_t msglen)
{
	char what[300], why[1024];
	unsigned behind = 0;
	int r = 0;

	run->ch_lag[0] = '\0';
	for (int i = 0; i < n && r == 0 && !run->ch_lag[0]; i++) {
		r = phc_replica_lag(reps[i].ch, database_of(run->spec), &behind, what, sizeof(what), why,
				   sizeof(why));
		if (r < 0)
			snprintf(msg, msglen, "reading the replication queue of %s: %s", reps[i].label, why);
		else if (behind)
			snprintf(run->ch_lag, sizeof(run->ch_lag), "replica %.150s is catching up: %u tables %.250s",
				 reps[i].label, behind, what);
	}
	return r;
}

int phc_schema_sync(struct phc_run *run, char *msg, size_t msglen)
{
	char brokers[4096], fp[PH_SCHEMA_FP_LEN + 1] = "";
	struct replica *reps = NULL;
	int n, r = 0;

	if (schema_recently_checked(run)) {
		for (unsigned b = 0; b < run->buckets; b++)
			run->bucket_schema_ready[b] = true;
		return 0;
	}

	if (ph_kafka_bootstrap(run->name, run->ns, run->spec, brokers, sizeof(brokers)) < 0) {
		snprintf(msg, msglen, "the Kafka broker list is too long");
		return -EINVAL;
	}
	n = open_replicas(run, &reps, msg, msglen);
	if (n < 0) {
		log_write(run->p->log, LOG_WARN, &run->lf, "ClickHouse schema: %s", msg);
		return n;
	}
	r = move_database(run, reps, n, msg, msglen);
	if (r == 0)
		r = copy_schema(run, reps, n, msg, msglen);
	for (int i = 0; i < n && r == 0; i++)
		r = sync_replica(run, &reps[i], brokers, fp, msg, msglen);
	if (r == 0)
		r = tidy_removed_replicas(run, reps, n, msg, msglen);
	if (r == 0)
		r = replica_lag(run, reps, n, msg, msglen);
	close_replicas(reps, n);
	forget_refused(run, r);
	if (r < 0) {
		if (r != -EAGAIN)
			log_write(run->p->log, LOG_WARN, &run->lf, "ClickHouse schema: %s", msg);
		return r;
	}
	for (unsigned b = 0; b < run->buckets; b++)
		run->bucket_schema_ready[b] = true;
	record_schema_status(run, fp);
	if (!run->ch_lag[0])
		schema_mark_checked(run); /* else: looked at again on the next reconcile */
	return 0;
}

/* Drops every prefixed-topic copy (prefixed.h) that exists on rep. */
static int drop_prefixed(struct phc_run *run, struct replica *rep, const char *db,
			 char *msg, size_t msglen)
{
	size_t np;
	const struct ph_prefixed_pair *pairs = ph_prefixed_pairs(&np);
	cJSON *rows = NULL;
	int r = read_tables(rep, db, &rows, msg, msglen);

	for (size_t i = 0; r == 0 && i < np; i++) {
		for (unsigned b = 0; r == 0 && b < PH_MAX_BUCKETS; b++) {
			struct ph_schema_stmts s = {0};
			struct ph_prefixed_names pn;
			struct ph_schema_bucket sb;

			r = ph_prefixed_bucket(&pairs[i], NULL, b, db, NULL, &pn, &sb);
			if (r == 0 && (definition(rows, sb.kafka_table) || definition(rows, sb.mv)))
				r = ph_schema_drop(&sb, &s);
			if (r == 0)
				r = run_stmts(rep, &s, run, msg, msglen);
			ph_schema_stmts_free(&s);
		}
	}
	cJSON_Delete(rows);
	return r;
}

/* Drops the bucket tables, then the claim, on one replica that this
 * PostHog owns; leaves another's (or unclaimed) tables alone with -EEXIST. */
static int drop_replica(struct phc_run *run, struct replica *rep, const char *db,
			char *msg, size_t msglen)
{
	char other[600] = "";
	struct buf q;
	int r = owner_of(run, rep, db, other, sizeof(other), msg, msglen);

	if (r < 0 && ch_exception_code(msg) == CH_UNKNOWN_DATABASE)
		return 0; /* no database, no tables */
	if (r == PH_OWNER_OTHER || r == PH_OWNER_NONE) {
		snprintf(msg, msglen, "ClickHouse database %s on %s: its bucket tables %s; left as they are",
			 db, rep->label, r == PH_OWNER_NONE ? "were never claimed by this PostHog"
							    : "belong to another PostHog");
		if (r == PH_OWNER_OTHER)
			snprintf(msg + strlen(msg), msglen - strlen(msg), " (%s)", other);
		return -EEXIST;
	}
	for (unsigned b = 0; r >= 0 && b < PH_MAX_BUCKETS; b++) {
		struct ph_schema_stmts s = {0};
		struct ph_schema_bucket sb;
		char kafka[40], mv[40];

		bucket_spec(run, b, db, NULL, kafka, mv, NULL, &sb);
		r = ph_schema_drop(&sb, &s);
		if (r == 0)
			r = run_stmts(rep, &s, run, msg, msglen);
		ph_schema_stmts_free(&s);
	}
	if (r >= 0)
		r = drop_prefixed(run, rep, db, msg, msglen);
	if (r < 0)
		return r;
	buf_init(&q, 4096);
	r = ph_schema_owner_drop(db, &q);
	if (r == 0)
		r = ch_exec(rep->ch, buf_str(&q), msg, msglen);
	buf_free(&q);
	return r;
}

int phc_schema_drop_all(struct phc_run *run, char *msg, size_t msglen)
{
	const char *db = database_of(run->spec);
	const char *user, *secret, *key;
	struct replica *reps = NULL;
	int n, r = 0, left = 0;

	/* The Secret as the API server has it now: a copy cached by an
	 * earlier reconcile may outlive a Secret deleted with its namespace,
	 * and a deletion is rare enough to read it again. */
	if (ph_clickhouse_credentials(run->spec, &user, &secret, &key) == 0 && secret)
		secretcache_forget(run->p->secrets, run->ns, secret);
	n = open_replicas(run, &reps, msg, msglen);
	if (n < 0)
		return n;
	for (int i = 0; i < n && r == 0; i++) {
		r = drop_replica(run, &reps[i], db, msg, msglen);
		if (r == -EEXIST) {
			log_write(run->p->log, LOG_INFO, &run->lf, "%s", msg);
			left++;
			r = 0;
		}
	}
	close_replicas(reps, n);
	forget_refused(run, r);
	return r == 0 && left ? -EEXIST : r;
}
