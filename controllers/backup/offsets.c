/*
 * backup: which consumer-group offsets a point-in-time restore sets back,
 * and setting them once per group for every shard of a backup
 * (bk_reset_offsets).
 *
 * Every shard's manifest holds the offsets of every Kafka table of that
 * shard, read just before that shard's FREEZE. The operator creates the
 * same bucket tables on every shard, so the shards' tables are members of
 * the same groups, and a group's committed offset of a partition is one
 * value for the whole group, whichever shard's consumer committed it. Its
 * messages went through the Distributed table writable_events to any
 * shard. Committed offsets only grow, and ClickHouse commits one only after
 * the block is written, so the smallest offset any shard recorded for a
 * partition was committed before every shard's own reading, hence before
 * every shard's FREEZE: every message before it is in some shard's frozen
 * parts (see docs/backups.md for the Distributed table's send queue). A
 * larger offset, read before a later shard's FREEZE, may not be covered by
 * an earlier shard's parts. So the smallest offset per partition is the one
 * that loses nothing; the messages between it and a larger one come back
 * twice, and PostHog's ReplacingMergeTree tables drop them at merge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "backup-private.h"

static cJSON *find_group(cJSON *merged, const char *group)
{
	cJSON *g;

	cJSON_ArrayForEach(g, merged)
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(g, "group")), group))
			return g;
	return NULL;
}

static cJSON *find_partition(cJSON *offsets, const char *topic, double part)
{
	cJSON *o;

	cJSON_ArrayForEach(o, offsets)
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "topic")), topic) &&
		    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "partition")) == part)
			return o;
	return NULL;
}

/* The broker list of Kafka table `table` in the manifest's DDL, or "". */
static void table_brokers(const cJSON *m, const char *table, char *out, size_t outsz)
{
	const cJSON *te;
	struct bk_kafka_args ka;

	out[0] = '\0';
	cJSON_ArrayForEach(te, cJSON_GetObjectItem(m, "tables")) {
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(te, "name"));
		const char *ddl = cJSON_GetStringValue(cJSON_GetObjectItem(te, "ddl"));

		if (n && ddl && !strcmp(n, table) && bk_parse_kafka_ddl(ddl, &ka) == 0) {
			snprintf(out, outsz, "%s", ka.brokers);
			return;
		}
	}
}

/* Folds one offset entry into the group's offsets: the smaller one wins,
 * -1 (nothing committed) being the smallest. */
static int fold_offset(cJSON *offsets, const cJSON *o, const char *group, size_t mi,
		       char *err, size_t errlen)
{
	const char *topic = cJSON_GetStringValue(cJSON_GetObjectItem(o, "topic"));
	const cJSON *part = cJSON_GetObjectItem(o, "partition");
	const cJSON *off = cJSON_GetObjectItem(o, "offset");
	cJSON *have, *e;
	double v;

	if (!topic || !cJSON_IsNumber(part) || !cJSON_IsNumber(off)) {
		bk_set_err(err, errlen, "manifest %zu: an offset of group %s lacks topic, partition "
			   "or offset", mi, group);
		return -EBADMSG;
	}
	v = off->valuedouble < 0 ? -1 : off->valuedouble;
	have = find_partition(offsets, topic, part->valuedouble);
	if (!have) {
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "topic", topic);
		cJSON_AddNumberToObject(e, "partition", part->valuedouble);
		cJSON_AddNumberToObject(e, "offset", v);
		cJSON_AddItemToArray(offsets, e);
	} else if (v < cJSON_GetNumberValue(cJSON_GetObjectItem(have, "offset"))) {
		cJSON_SetNumberValue(cJSON_GetObjectItem(have, "offset"), v);
	}
	return 0;
}

int bk_merge_offsets(const cJSON *const *manifests, size_t n, cJSON **out,
		     char *err, size_t errlen)
{
	cJSON *merged = cJSON_CreateArray(), *g;
	const cJSON *k, *o;
	char brokers[1024];
	int r = 0;

	for (size_t mi = 0; mi < n && r == 0; mi++) {
		cJSON_ArrayForEach(k, cJSON_GetObjectItem(manifests[mi], "kafka")) {
			const char *table = cJSON_GetStringValue(cJSON_GetObjectItem(k, "table"));
			const char *group = cJSON_GetStringValue(cJSON_GetObjectItem(k, "group"));

			if (!table || !group || !cJSON_IsArray(cJSON_GetObjectItem(k, "offsets"))) {
				bk_set_err(err, errlen, "manifest %zu: a Kafka entry lacks table, group "
					   "or offsets", mi);
				r = -EBADMSG;
				break;
			}
			g = find_group(merged, group);
			if (!g) {
				g = cJSON_CreateObject();
				cJSON_AddStringToObject(g, "table", table);
				cJSON_AddStringToObject(g, "group", group);
				table_brokers(manifests[mi], table, brokers, sizeof(brokers));
				cJSON_AddStringToObject(g, "brokers", brokers);
				cJSON_AddArrayToObject(g, "offsets");
				cJSON_AddItemToArray(merged, g);
			}
			cJSON_ArrayForEach(o, cJSON_GetObjectItem(k, "offsets")) {
				r = fold_offset(cJSON_GetObjectItem(g, "offsets"), o, group, mi, err,
						errlen);
				if (r < 0)
					break;
			}
			if (r < 0)
				break;
		}
	}
	if (r < 0) {
		cJSON_Delete(merged);
		return r;
	}
	*out = merged;
	return 0;
}

int bk_commit_merged(const struct bk_target *t, const cJSON *merged, char *err, size_t errlen)
{
	const cJSON *g;
	int r;

	cJSON_ArrayForEach(g, merged) {
		const char *group = cJSON_GetStringValue(cJSON_GetObjectItem(g, "group"));
		const char *brokers = t->kafka_bootstrap;

		if (!brokers)
			brokers = cJSON_GetStringValue(cJSON_GetObjectItem(g, "brokers"));
		if (!brokers || !*brokers) {
			bk_set_err(err, errlen, "Kafka table %s: no broker list",
				   cJSON_GetStringValue(cJSON_GetObjectItem(g, "table")));
			return -EINVAL;
		}
		r = bk_kafka_commit_offsets(brokers, group, cJSON_GetObjectItem(g, "offsets"),
					    err, errlen);
		if (r < 0)
			return r;
		if (t->log)
			log_info(t->log, "consumer group %s set back to the backup's offsets (%d partitions)",
				 group, cJSON_GetArraySize(cJSON_GetObjectItem(g, "offsets")));
	}
	return 0;
}

int bk_reset_offsets(const struct bk_target *t, unsigned nshards, const char *name,
		     cJSON **groups, char *err, size_t errlen)
{
	const cJSON **ms;
	cJSON *merged = NULL;
	struct bk_target st = *t;
	char shard[16];
	unsigned i, got = 0;
	int r = 0;

	if (!bk_valid_name(name, BK_MAX_NAME)) {
		bk_set_err(err, errlen, "backup name: want [A-Za-z0-9._-]{1,%d}, got '%s'",
			   BK_MAX_NAME, name ? name : "");
		return -EINVAL;
	}
	if (nshards < 1 || nshards > BK_MAX_SHARDS) {
		bk_set_err(err, errlen, "--shards: want 1 to %d, got %u", BK_MAX_SHARDS, nshards);
		return -EINVAL;
	}
	ms = util_xcalloc(nshards, sizeof(*ms));
	st.shard = shard;
	for (i = 0; i < nshards && r == 0; i++, got++) {
		cJSON *m = NULL;

		snprintf(shard, sizeof(shard), "%u", i);
		r = bk_read_manifest(&st, name, &m, err, errlen);
		ms[i] = m;
	}
	if (r == 0)
		r = bk_merge_offsets(ms, nshards, &merged, err, errlen);
	if (r == 0)
		r = bk_commit_merged(t, merged, err, errlen);
	for (i = 0; i < got; i++)
		cJSON_Delete((cJSON *)ms[i]);
	free(ms);
	if (r == 0 && groups)
		*groups = merged;
	else
		cJSON_Delete(merged);
	return r;
}
