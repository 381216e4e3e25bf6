/*
 * posthog-operator backup-agent: takes, restores, lists and expires the
 * backups of one ClickHouse shard. It runs beside the replica whose data
 * directory it reads (a sidecar in the ClickHouse pod, or by hand).
 *
 *   backup-agent backup  --shard S --name N [--retention 30d [--keep-min K]]
 *   backup-agent restore --shard S --name N [--replay-kafka | --stage data|kafka|views]
 *   backup-agent reset-offsets --shards K --name N
 *   backup-agent retain  --shard S --retention 30d [--keep-min K]
 *   backup-agent list    --shard S
 *
 * Secrets come only from the environment (a Secret mounted with
 * secretKeyRef), never from the command line: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and CLICKHOUSE_PASSWORD. The result is one JSON
 * object on stdout, {"phase": "Completed"|"Failed", ...}, with the error
 * message of the store or the server when it failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "controllers/backup/backup.h"
#include "commands.h"

struct agent_flags {
	const char *action;
	const char *ch_url, *ch_user, *ch_path, *database, *shard, *name;
	const char *endpoint, *bucket, *prefix, *region, *kafka, *retention, *stage;
	unsigned keep_min, shards;
	bool replay_kafka, tls_verify;
};

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static void usage(FILE *out)
{
	fputs("usage: posthog-operator backup-agent backup|restore|reset-offsets|retain|list [flags]\n"
	      "  --shard S               shard id ([A-Za-z0-9_-]+; env SHARD)\n"
	      "  --name N                backup name (backup, restore)\n"
	      "  --clickhouse-url U      default $CLICKHOUSE_URL or http://127.0.0.1:8123\n"
	      "  --clickhouse-user U     default $CLICKHOUSE_USER or default (password: $CLICKHOUSE_PASSWORD)\n"
	      "  --clickhouse-path P     the server's <path>; default /var/lib/clickhouse\n"
	      "  --database D            default posthog\n"
	      "  --s3-endpoint URL       env S3_ENDPOINT\n"
	      "  --s3-bucket B           env S3_BUCKET\n"
	      "  --s3-prefix P           env S3_PREFIX; default \"\"\n"
	      "  --s3-region R           env S3_REGION; default us-east-1\n"
	      "  --s3-insecure           do not verify the store's TLS certificate\n"
	      "  --kafka-bootstrap B     brokers for consumer-group offsets; default each Kafka table's own\n"
	      "  --replay-kafka          restore: set the consumer groups back to the backup's offsets\n"
	      "  --stage data|kafka|views  restore one step of a multi-shard point-in-time restore,\n"
	      "                          each on every shard before the next: data (no Kafka tables\n"
	      "                          or views), reset-offsets once, kafka (the missing Kafka\n"
	      "                          tables), views (the missing materialized views)\n"
	      "  --shards K              reset-offsets: the backup's shards 0..K-1, whose manifests'\n"
	      "                          smallest offset per partition each group is set back to\n"
	      "  --retention D           retain (and backup): delete backups older than D (30d, 12h, 90m, 45s)\n"
	      "  --keep-min K            keep at least the newest K backups; default 1\n"
	      "credentials: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY\n", out);
}

static int parse(int argc, char **argv, struct agent_flags *f, char *err, size_t errlen)
{
	static const struct { const char *flag; size_t off; } str[] = {
		{ "--shard", offsetof(struct agent_flags, shard) },
		{ "--name", offsetof(struct agent_flags, name) },
		{ "--clickhouse-url", offsetof(struct agent_flags, ch_url) },
		{ "--clickhouse-user", offsetof(struct agent_flags, ch_user) },
		{ "--clickhouse-path", offsetof(struct agent_flags, ch_path) },
		{ "--database", offsetof(struct agent_flags, database) },
		{ "--s3-endpoint", offsetof(struct agent_flags, endpoint) },
		{ "--s3-bucket", offsetof(struct agent_flags, bucket) },
		{ "--s3-prefix", offsetof(struct agent_flags, prefix) },
		{ "--s3-region", offsetof(struct agent_flags, region) },
		{ "--kafka-bootstrap", offsetof(struct agent_flags, kafka) },
		{ "--retention", offsetof(struct agent_flags, retention) },
		{ "--stage", offsetof(struct agent_flags, stage) },
	};
	char *end;
	int i;
	size_t k;

	f->shard = env_or("SHARD", NULL);
	f->ch_url = env_or("CLICKHOUSE_URL", "http://127.0.0.1:8123");
	f->ch_user = env_or("CLICKHOUSE_USER", "default");
	f->ch_path = "/var/lib/clickhouse";
	f->database = "posthog";
	f->endpoint = env_or("S3_ENDPOINT", NULL);
	f->bucket = env_or("S3_BUCKET", NULL);
	f->prefix = env_or("S3_PREFIX", "");
	f->region = env_or("S3_REGION", "us-east-1");
	f->keep_min = 1;
	f->tls_verify = true;
	if (argc < 2 || argv[1][0] == '-') {
		snprintf(err, errlen, "want an action: backup, restore, reset-offsets, retain or list");
		return -EINVAL;
	}
	f->action = argv[1];
	for (i = 2; i < argc; i++) {
		for (k = 0; k < sizeof(str) / sizeof(str[0]); k++)
			if (!strcmp(argv[i], str[k].flag))
				break;
		if (k < sizeof(str) / sizeof(str[0])) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s needs a value", argv[i]);
				return -EINVAL;
			}
			*(const char **)((char *)f + str[k].off) = argv[++i];
		} else if (!strcmp(argv[i], "--replay-kafka")) {
			f->replay_kafka = true;
		} else if (!strcmp(argv[i], "--s3-insecure")) {
			f->tls_verify = false;
		} else if (!strcmp(argv[i], "--shards") && i + 1 < argc) {
			errno = 0;
			f->shards = (unsigned)strtoul(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || f->shards < 1 || f->shards > 256) {
				snprintf(err, errlen, "--shards: want a count from 1 to 256, got '%s'", argv[i]);
				return -EINVAL;
			}
		} else if (!strcmp(argv[i], "--keep-min") && i + 1 < argc) {
			errno = 0;
			f->keep_min = (unsigned)strtoul(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || f->keep_min > 100000) {
				snprintf(err, errlen, "--keep-min: want a count, got '%s'", argv[i]);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "unknown flag %s", argv[i]);
			return -EINVAL;
		}
	}
	if (!strcmp(f->action, "reset-offsets") && !f->shard)
		f->shard = "all"; /* every shard's manifest: --shards */
	if (!f->shard)
		snprintf(err, errlen, "--shard (or SHARD) is required");
	else if (!strcmp(f->action, "reset-offsets") && (!f->shards || !f->name))
		snprintf(err, errlen, "reset-offsets needs --shards and --name");
	else if (f->stage && (strcmp(f->action, "restore") ||
			      (strcmp(f->stage, "data") && strcmp(f->stage, "kafka") &&
			       strcmp(f->stage, "views"))))
		snprintf(err, errlen, "--stage: want data, kafka or views, with restore");
	else if (f->stage && f->replay_kafka)
		snprintf(err, errlen, "--stage and --replay-kafka exclude each other: with --stage, "
			 "reset-offsets sets the groups back between the two steps");
	else if (!f->endpoint)
		snprintf(err, errlen, "--s3-endpoint (or S3_ENDPOINT) is required");
	else if (!f->bucket)
		snprintf(err, errlen, "--s3-bucket (or S3_BUCKET) is required");
	else if (!getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY"))
		snprintf(err, errlen, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set");
	else if ((!strcmp(f->action, "backup") || !strcmp(f->action, "restore")) && !f->name)
		snprintf(err, errlen, "--name is required for %s", f->action);
	else if (!strcmp(f->action, "retain") && !f->retention)
		snprintf(err, errlen, "--retention is required for retain");
	else
		return 0;
	return -EINVAL;
}

static void put_result(cJSON *o, const struct bk_result *r)
{
	cJSON_AddNumberToObject(o, "tables", (double)r->tables);
	cJSON_AddNumberToObject(o, "parts", (double)r->parts);
	cJSON_AddNumberToObject(o, "partsUploaded", (double)r->parts_uploaded);
	cJSON_AddNumberToObject(o, "filesTransferred", (double)r->files_uploaded);
	cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
	cJSON_AddNumberToObject(o, "bytesTransferred", (double)r->bytes_uploaded);
	cJSON_AddNumberToObject(o, "rows", (double)r->rows);
	cJSON_AddNumberToObject(o, "deletedBackups", (double)r->deleted_backups);
	cJSON_AddNumberToObject(o, "deletedObjects", (double)r->deleted_objects);
}

static int act(const struct agent_flags *f, const struct bk_target *t,
	       cJSON *out, char *err, size_t errlen)
{
	struct bk_restore_opts ro = {
		.replay_kafka = f->replay_kafka,
		.stage = !f->stage ? BK_RESTORE_ALL
			 : !strcmp(f->stage, "data") ? BK_RESTORE_DATA
			 : !strcmp(f->stage, "kafka") ? BK_RESTORE_KAFKA : BK_RESTORE_VIEWS,
	};
	struct bk_result res = { 0 }, ret = { 0 };
	struct timespec t0, t1;
	int64_t age = 0;
	cJSON *list = NULL;
	int r;

	if (f->retention && bk_parse_duration(f->retention, &age) < 0) {
		snprintf(err, errlen, "--retention: want a duration like 30d, 12h, 90m or 45s, got '%s'",
			 f->retention);
		return -EINVAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!strcmp(f->action, "backup")) {
		r = bk_backup(t, f->name, &res, err, errlen);
		/* Retention runs only after a backup that completed. */
		if (r == 0 && f->retention)
			r = bk_retain(t, (int64_t)time(NULL), age, f->keep_min, &ret, err, errlen);
		res.deleted_backups = ret.deleted_backups;
		res.deleted_objects = ret.deleted_objects;
	} else if (!strcmp(f->action, "restore")) {
		r = bk_restore(t, f->name, &ro, &res, err, errlen);
	} else if (!strcmp(f->action, "reset-offsets")) {
		r = bk_reset_offsets(t, f->shards, f->name, &list, err, errlen);
		if (r == 0)
			cJSON_AddItemToObject(out, "groups", list);
	} else if (!strcmp(f->action, "retain")) {
		r = bk_retain(t, (int64_t)time(NULL), age, f->keep_min, &res, err, errlen);
	} else if (!strcmp(f->action, "list")) {
		r = bk_list(t, &list, err, errlen);
		if (r == 0)
			cJSON_AddItemToObject(out, "backups", list);
		return r;
	} else {
		snprintf(err, errlen, "backup-agent: unknown action \"%s\": want backup, restore, reset-offsets, retain or list",
			 f->action);
		return -EINVAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	put_result(out, &res);
	cJSON_AddNumberToObject(out, "seconds", (double)(t1.tv_sec - t0.tv_sec) +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return r;
}

int cmd_backup_agent(int argc, char **argv)
{
	struct agent_flags f = { 0 };
	struct ch_client *ch = NULL;
	struct s3_client *s3 = NULL;
	struct log *log = NULL;
	char err[2048] = "";
	cJSON *out;
	char *text;
	int r;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	r = parse(argc, argv, &f, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "posthog-operator backup-agent: %s\n", err);
		usage(stderr);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = log_new(STDERR_FILENO, LOG_INFO, LOG_FORMAT_TEXT, &log);
	if (r < 0) {
		fprintf(stderr, "posthog-operator backup-agent: cannot set up logging: %s\n",
			strerror(-r));
		return 1;
	}
	struct ch_options co = {
		.url = f.ch_url, .user = f.ch_user,
		.password = getenv("CLICKHOUSE_PASSWORD"), .tls_verify = true,
		.timeout_ms = 600000, .log = log,
	};
	struct s3_options so = {
		.endpoint = f.endpoint, .bucket = f.bucket, .region = f.region,
		.access_key = getenv("AWS_ACCESS_KEY_ID"),
		.secret_key = getenv("AWS_SECRET_ACCESS_KEY"),
		.tls_verify = f.tls_verify, .log = log,
	};
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "action", f.action);
	cJSON_AddStringToObject(out, "shard", f.shard);
	if (f.name)
		cJSON_AddStringToObject(out, "name", f.name);
	r = ch_new(&co, &ch);
	if (r == 0)
		r = s3_new(&so, &s3);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot create the clients: %s", strerror(-r));
	} else {
		struct bk_target t = {
			.ch = ch, .s3 = s3, .clickhouse_path = f.ch_path,
			.database = f.database, .prefix = f.prefix, .shard = f.shard,
			.kafka_bootstrap = f.kafka, .log = log,
		};
		r = act(&f, &t, out, err, sizeof(err));
	}
	if (s3) {
		struct s3_stats st;

		s3_get_stats(s3, &st);
		cJSON_AddNumberToObject(out, "putRequests", (double)st.puts);
		cJSON_AddNumberToObject(out, "getRequests", (double)st.gets);
		cJSON_AddNumberToObject(out, "deleteRequests", (double)st.deletes);
	}
	cJSON_AddStringToObject(out, "phase", r == 0 ? "Completed" : "Failed");
	if (r < 0) {
		cJSON_AddStringToObject(out, "error", err);
		log_error(log, "backup-agent %s: %s", f.action, err);
	}
	text = cJSON_PrintUnformatted(out);
	if (text)
		puts(text);
	free(text);
	cJSON_Delete(out);
	s3_free(s3);
	ch_free(ch);
	log_free(log);
	curl_global_cleanup();
	return r == 0 ? 0 : 1;
}
