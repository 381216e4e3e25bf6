/*
 * posthog-operator reshard: moves the rows of every sharded ClickHouse
 * table to the shard that the new shard count gives their key
 * (pkg/reshard/reshard.h, docs/resharding.md). The operator runs it as a
 * Job when spec.clickhouse.shards changes; it can also run by hand.
 *
 *   reshard --shards M --shard URL,HOST:PORT [--shard ...]
 *           (--progress FILE | --progress-clickhouse)
 *           [--database D] [--cluster C] [--max-rows-per-second N]
 *           [--max-bytes-per-second N] [--skip-cluster-check]
 *
 * Credentials come only from the environment: CLICKHOUSE_USER and
 * CLICKHOUSE_PASSWORD (the same on every shard, as the operator's admin
 * user is). The result is one JSON object on stdout with the progress
 * document's phase, moved rows and message. Exit codes: 0 done, 1 failed
 * (the progress file says how far it came; a rerun resumes), 2 bad usage,
 * 3 paused (a shard unreachable or not on the new topology yet).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "pkg/clickhouse/clickhouse.h"
#include "pkg/reshard/reshard.h"
#include "pkg/util/util.h"
#include "commands.h"

struct reshard_flags {
	struct rs_shard shards[RS_MAX_SHARDS];
	char *owned[RS_MAX_SHARDS];
	size_t nshards;
	int modulus;
	const char *progress, *database, *cluster;
	unsigned long long rows_ps, bytes_ps;
	bool skip_cluster_check;
	bool one_lane;
	bool progress_ch;
};

static void usage(FILE *out)
{
	fputs("usage: posthog-operator reshard --shards M --shard URL,HOST:PORT [--shard ...]\n"
	      "                                (--progress FILE | --progress-clickhouse)\n"
	      "  --shards M                the new shard count (the first M --shard entries stay)\n"
	      "  --shard URL,HOST:PORT     a shard's HTTP URL and its native address as the other\n"
	      "                            shards reach it, in remote_servers order; every shard that\n"
	      "                            may hold rows, removed ones last\n"
	      "  --progress FILE           the progress document (JSON); a rerun resumes from it\n"
	      "  --progress-clickhouse     keep the progress document in the table\n"
	      "                            <database>_reshard.progress of the first shard instead\n"
	      "                            (what the operator's Job does; it reads it from there)\n"
	      "  --database D              default posthog\n"
	      "  --cluster C               the Distributed tables' cluster; default posthog\n"
	      "  --max-rows-per-second N   average copy rate limit; default none\n"
	      "  --max-bytes-per-second N  per-copy network limit (max_network_bandwidth); default none\n"
	      "  --skip-cluster-check      do not wait for remote_servers to list M shards\n"
	      "  --one-at-a-time           move one unit at a time (default: each source and target\n"
	      "                            pair's units on a thread of their own, one per shard at once)\n"
	      "environment: CLICKHOUSE_USER (default \"default\"), CLICKHOUSE_PASSWORD\n", out);
}

static int parse_ull(const char *flag, const char *v, unsigned long long max,
		     unsigned long long *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
	if (!v || *v < '0' || *v > '9' || errno || *end || n > max) {
		fprintf(stderr, "reshard: %s: want a number from 0 to %llu, got \"%s\"\n",
			flag, max, v ? v : "");
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int add_shard(struct reshard_flags *f, const char *v)
{
	const char *comma = v ? strrchr(v, ',') : NULL;
	char *url;

	if (!comma || comma == v || !comma[1] || strncmp(v, "http", 4)) {
		fprintf(stderr, "reshard: --shard: want URL,HOST:PORT (e.g. http://ch-0:8123,ch-0:9000), got \"%s\"\n",
			v ? v : "");
		return -EINVAL;
	}
	if (f->nshards >= RS_MAX_SHARDS) {
		fprintf(stderr, "reshard: --shard: at most %d shards\n", RS_MAX_SHARDS);
		return -EINVAL;
	}
	url = util_xstrndup(v, (size_t)(comma - v));
	f->owned[f->nshards] = url;
	f->shards[f->nshards].url = url;
	f->shards[f->nshards].addr = comma + 1;
	f->nshards++;
	return 0;
}

static int parse(int argc, char **argv, struct reshard_flags *f)
{
	unsigned long long m = 0;
	int i, rc = 0;

	f->database = "posthog";
	f->cluster = "posthog";
	for (i = 1; !rc && i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--skip-cluster-check")) {
			f->skip_cluster_check = true;
			continue;
		}
		if (!strcmp(a, "--one-at-a-time")) {
			f->one_lane = true;
			continue;
		}
		if (!strcmp(a, "--progress-clickhouse")) {
			f->progress_ch = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "reshard: %s: unknown flag or missing value\n", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--shard"))
			rc = add_shard(f, v);
		else if (!strcmp(a, "--shards"))
			rc = parse_ull(a, v, RS_MAX_SHARDS, &m);
		else if (!strcmp(a, "--progress"))
			f->progress = v;
		else if (!strcmp(a, "--database"))
			f->database = v;
		else if (!strcmp(a, "--cluster"))
			f->cluster = v;
		else if (!strcmp(a, "--max-rows-per-second"))
			rc = parse_ull(a, v, 1000000000000ull, &f->rows_ps);
		else if (!strcmp(a, "--max-bytes-per-second"))
			rc = parse_ull(a, v, 1000000000000ull, &f->bytes_ps);
		else {
			fprintf(stderr, "reshard: unknown flag %s\n", a);
			rc = -EINVAL;
		}
	}
	f->modulus = (int)m;
	if (!rc && (!f->progress == !f->progress_ch || !f->nshards || f->modulus < 1 ||
		    (size_t)f->modulus > f->nshards)) {
		fprintf(stderr, "reshard: one of --progress and --progress-clickhouse, --shard and --shards "
			"(1 to the number of --shard) are required\n");
		rc = -EINVAL;
	}
	return rc;
}

int cmd_reshard(int argc, char **argv)
{
	struct reshard_flags f = { 0 };
	struct rs_options o = { 0 };
	struct log *log = NULL;
	struct ch_client *store_ch = NULL;
	struct rs_ch_store chs;
	char err[2048] = "";
	cJSON *out;
	char *text;
	size_t i;
	int rc = 0;

	if (parse(argc, argv, &f)) {
		usage(stderr);
		for (i = 0; i < f.nshards; i++)
			free(f.owned[i]);
		return 2;
	}
	if (log_new(2, LOG_INFO, LOG_FORMAT_TEXT, &log)) {
		fprintf(stderr, "reshard: cannot create the logger\n");
		for (i = 0; i < f.nshards; i++)
			free(f.owned[i]);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	o.shards = f.shards;
	o.nshards = f.nshards;
	o.modulus = f.modulus;
	o.database = f.database;
	o.cluster = f.cluster;
	o.user = getenv("CLICKHOUSE_USER");
	o.password = getenv("CLICKHOUSE_PASSWORD");
	o.max_rows_per_second = f.rows_ps;
	o.max_bytes_per_second = f.bytes_ps;
	o.skip_cluster_check = f.skip_cluster_check;
	o.one_lane = f.one_lane;
	o.log = log;
	if (f.progress_ch) {
		struct ch_options co = {
			.url = f.shards[0].url, .user = o.user, .password = o.password,
			.timeout_ms = 60000, .log = log,
		};

		rc = ch_new(&co, &store_ch);
		if (rc)
			snprintf(err, sizeof(err), "--shard %s: bad ClickHouse options (%s)", f.shards[0].url,
				 ch_strerror(rc));
		else
			rs_clickhouse_store(&chs, store_ch, f.database, &o.store);
	} else {
		rs_file_store(f.progress, &o.store);
	}
	if (!rc)
		rc = rs_run(&o, err, sizeof(err));
	out = util_nn(cJSON_CreateObject());
	cJSON_AddStringToObject(out, "phase", rc == 0 ? "Done" : rc == -EAGAIN ? "Paused" : "Failed");
	cJSON_AddStringToObject(out, "progress", f.progress ? f.progress : "clickhouse");
	if (rc)
		cJSON_AddStringToObject(out, "message", err);
	text = util_nn(cJSON_PrintUnformatted(out));
	printf("%s\n", text);
	free(text);
	cJSON_Delete(out);
	ch_free(store_ch);
	log_free(log);
	curl_global_cleanup();
	for (i = 0; i < f.nshards; i++)
		free(f.owned[i]);
	return rc == 0 ? 0 : rc == -EAGAIN ? 3 : 1;
}
