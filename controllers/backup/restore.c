/*
 * backup: restoring one shard (bk_restore).
 *
 * First every part of the backup is downloaded and every file's SHA-256
 * checked against the manifest, before anything is created in ClickHouse
 * (a corrupt or missing object fails the restore then, with nothing
 * created or attached). Then tables come back in three stages so that
 * nothing consumes before the data is in place: first every table that
 * holds data (and every other engine, such as Distributed), with its parts
 * attached and its row count compared with the manifest's; then
 * the Kafka engine tables, after their consumer groups have been set back
 * when replaying; last the materialized views, which start the flow from
 * the Kafka tables into the data tables. A point-in-time restore of
 * several shards runs these stages one at a time on every shard
 * (BK_RESTORE_DATA, bk_reset_offsets once, BK_RESTORE_KAFKA,
 * BK_RESTORE_VIEWS), because the shards' Kafka tables share their groups.
 *
 * Parts go through the table's detached/ directory and ALTER TABLE ...
 * ATTACH PART (ClickHouse docs/en/query_language/alter.md, "ATTACH
 * PARTITION|PART"), which checks the part and gives it a new block number
 * in the table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-private.h"

static int table_sql(const struct bk_target *t, const char *table,
		     const char *before, const char *after, struct buf *sql)
{
	int r = buf_append_str(sql, before);

	if (r == 0)
		r = ch_quote_ident(t->database, sql);
	if (r == 0)
		r = buf_append_str(sql, ".");
	if (r == 0)
		r = ch_quote_ident(table, sql);
	if (r == 0)
		r = buf_append_str(sql, after);
	return r;
}

static int detached_dir(const struct bk_target *t, const char *table,
			const char *part, struct buf *out)
{
	int r = buf_printf(out, "%s/data/", t->clickhouse_path);

	if (r == 0)
		r = bk_escape_file_name(t->database, out);
	if (r == 0)
		r = buf_append_str(out, "/");
	if (r == 0)
		r = bk_escape_file_name(table, out);
	if (r == 0)
		r = buf_printf(out, "/detached/%s", part);
	return r;
}

/*
 * Every part is downloaded and checked before anything is created in
 * ClickHouse: into <path>/backup-agent-restore/<table>.<part> (the tables'
 * and parts' positions in the manifest), on the volume of the data, so
 * that a checked part moves into its table's detached/ with a rename. A
 * corrupt or missing object then fails the restore with no table created
 * and no part attached.
 */
#define BK_STAGING "backup-agent-restore"

static int staging_root(const struct bk_target *t, struct buf *out)
{
	return buf_printf(out, "%s/%s", t->clickhouse_path, BK_STAGING);
}

static int staged_dir(const struct bk_target *t, unsigned ti, unsigned pi, struct buf *out)
{
	return buf_printf(out, "%s/%s/%u.%u", t->clickhouse_path, BK_STAGING, ti, pi);
}

static bool part_valid(const cJSON *part)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(part, "name"));

	return name && bk_valid_name(name, 200) &&
	       cJSON_GetStringValue(cJSON_GetObjectItem(part, "key")) &&
	       cJSON_IsArray(cJSON_GetObjectItem(part, "files"));
}

/* Downloads one part's files into dir and checks each file's SHA-256
 * against the manifest; the error names the file and its object. */
static int fetch_part(const struct bk_target *t, const char *table, const cJSON *part,
		      const char *dir, struct bk_result *res, char *err, size_t errlen)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(part, "name"));
	const char *prefix = cJSON_GetStringValue(cJSON_GetObjectItem(part, "key"));
	const cJSON *f;
	char path[BK_MAX_PATH], hex[65];
	struct buf key;
	int r = 0;

	if (!part_valid(part)) {
		bk_set_err(err, errlen, "manifest: a part of table %s lacks name, key or files", table);
		return -EBADMSG;
	}
	if (mkdir(dir, 0750) < 0) {
		r = -errno;
		bk_set_err(err, errlen, "create %s: %s", dir, strerror(errno));
		return r;
	}
	buf_init(&key, BK_MAX_PATH);
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(part, "files")) {
		const char *fn = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));
		const char *sum = cJSON_GetStringValue(cJSON_GetObjectItem(f, "sha256"));

		if (!fn || !sum || !bk_valid_file_name(fn, 200)) {
			bk_set_err(err, errlen, "manifest: part %s of %s: a file lacks name or sha256", name, table);
			r = -EBADMSG;
			break;
		}
		buf_reset(&key);
		r = bk_path_join(path, sizeof(path), dir, fn);
		if (r == 0)
			r = buf_printf(&key, "%s%s", prefix, fn);
		if (r < 0) {
			bk_set_err(err, errlen, "part %s of %s: the path of %s is too long", name, table, fn);
			break;
		}
		r = s3_get_file(t->s3, buf_str(&key), path, err, errlen);
		if (r == 0)
			r = s3_sha256_file(path, hex);
		if (r == 0 && strcmp(hex, sum) != 0) {
			bk_set_err(err, errlen, "part %s of table %s: file %s (object %s) has SHA-256 %s, "
				   "the manifest says %s", name, table, fn, buf_str(&key), hex, sum);
			r = -EBADMSG;
		}
		if (r < 0)
			break;
		res->files_uploaded++; /* files moved, here downloaded */
		res->bytes_uploaded += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "size"));
	}
	buf_free(&key);
	return r;
}

/* Downloads and checks every part of every table of the first stage. */
static int fetch_all(const struct bk_target *t, const cJSON *tables, struct bk_result *res,
		     char *err, size_t errlen)
{
	const cJSON *te, *p;
	struct buf root, dir;
	unsigned ti = 0;
	int r;

	buf_init(&root, BK_MAX_PATH);
	buf_init(&dir, BK_MAX_PATH);
	r = staging_root(t, &root);
	if (r < 0) {
		bk_set_err(err, errlen, "the path %s/%s is too long", t->clickhouse_path, BK_STAGING);
		goto out;
	}
	/* A killed restore's downloads: nobody else writes here. */
	bk_remove_tree(buf_str(&root));
	if (mkdir(buf_str(&root), 0750) < 0) {
		r = -errno;
		bk_set_err(err, errlen, "create %s: %s", buf_str(&root), strerror(errno));
		goto out;
	}
	cJSON_ArrayForEach(te, tables) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(te, "name"));
		unsigned pi = 0;

		if (bk_engine_stage(cJSON_GetStringValue(cJSON_GetObjectItem(te, "engine"))) == 0) {
			cJSON_ArrayForEach(p, cJSON_GetObjectItem(te, "parts")) {
				buf_reset(&dir);
				r = staged_dir(t, ti, pi++, &dir);
				if (r < 0)
					bk_set_err(err, errlen, "the path %s is too long", buf_str(&root));
				else
					r = fetch_part(t, name ? name : "?", p, buf_str(&dir), res, err,
						       errlen);
				if (r < 0)
					goto out;
			}
		}
		ti++;
	}
out:
	buf_free(&root);
	buf_free(&dir);
	return r;
}

/* Moves a checked part from the staging directory into detached/ and
 * attaches it. */
static int attach_part(const struct bk_target *t, const char *table, const cJSON *part,
		       unsigned ti, unsigned pi, struct bk_result *res, char *err, size_t errlen)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(part, "name"));
	struct buf from, to, sql;
	int r;

	buf_init(&from, BK_MAX_PATH);
	buf_init(&to, BK_MAX_PATH);
	buf_init(&sql, 4096);
	r = staged_dir(t, ti, pi, &from);
	if (r == 0)
		r = detached_dir(t, table, name, &to);
	if (r < 0) {
		bk_set_err(err, errlen, "path of part %s too long", name);
		goto out;
	}
	if (rename(buf_str(&from), buf_str(&to)) < 0) {
		r = -errno;
		bk_set_err(err, errlen, "move %s to %s: %s", buf_str(&from), buf_str(&to),
			   strerror(errno));
		goto out;
	}
	r = table_sql(t, table, "ALTER TABLE ", " ATTACH PART ", &sql);
	if (r == 0)
		r = ch_quote(name, &sql);
	if (r == 0)
		r = ch_exec(t->ch, buf_str(&sql), err, errlen);
	if (r < 0) {
		bk_remove_tree(buf_str(&to));
		goto out;
	}
	res->parts++;
	res->rows += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(part, "rows"));
out:
	buf_free(&from);
	buf_free(&to);
	buf_free(&sql);
	return r;
}

static void append_err(char *err, size_t errlen, const char *more)
{
	size_t n = strnlen(err, errlen);

	if (n + 1 < errlen)
		snprintf(err + n, errlen - n, "%s", more);
}

static int check_count(const struct bk_target *t, const char *table,
		       const cJSON *te, char *err, size_t errlen)
{
	const cJSON *want = cJSON_GetObjectItem(te, "rows");
	cJSON *rows = NULL;
	struct buf sql;
	double got;
	int r;

	if (!cJSON_IsNumber(want))
		return 0; /* parts without count.txt: nothing to compare */
	buf_init(&sql, 4096);
	r = table_sql(t, table, "SELECT toString(count()) AS c FROM ", "", &sql);
	if (r == 0)
		r = ch_query(t->ch, buf_str(&sql), &rows, err, errlen);
	if (r == 0) {
		got = strtod(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "c"))
			     ?: "-1", NULL);
		if (got != cJSON_GetNumberValue(want)) {
			bk_set_err(err, errlen, "table %s: %.0f rows after the restore, the manifest says %.0f "
				   "(the table and its parts stay as attached: drop the database "
				   "before a retry)", table, got, cJSON_GetNumberValue(want));
			r = -EBADMSG;
		}
	}
	cJSON_Delete(rows);
	buf_free(&sql);
	return r;
}

/* Creates table te (the ti-th of the manifest) and attaches its staged
 * parts. */
static int create_table(const struct bk_target *t, const cJSON *te, unsigned ti,
			struct bk_result *res, char *err, size_t errlen)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(te, "name"));
	const char *ddl = cJSON_GetStringValue(cJSON_GetObjectItem(te, "ddl"));
	const cJSON *parts = cJSON_GetObjectItem(te, "parts"), *p;
	unsigned pi = 0;
	int r;

	if (!name || !ddl) {
		bk_set_err(err, errlen, "manifest: a table lacks name or ddl");
		return -EBADMSG;
	}
	r = ch_exec(t->ch, ddl, err, errlen);
	if (r < 0)
		return r;
	res->tables++;
	cJSON_ArrayForEach(p, parts) {
		r = attach_part(t, name, p, ti, pi++, res, err, errlen);
		if (r < 0)
			return r;
	}
	return check_count(t, name, te, err, errlen);
}

static int refuse_existing(const struct bk_target *t, const cJSON *tables,
			   char *err, size_t errlen)
{
	const cJSON *te;
	cJSON *rows = NULL, *row;
	struct buf sql;
	int r;

	buf_init(&sql, 4096);
	r = buf_append_str(&sql, "SELECT name FROM system.tables WHERE database = ");
	if (r == 0)
		r = ch_quote(t->database, &sql);
	if (r == 0)
		r = ch_query(t->ch, buf_str(&sql), &rows, err, errlen);
	buf_free(&sql);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(row, rows) {
		const char *have = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));

		cJSON_ArrayForEach(te, tables) {
			const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(te, "name"));

			if (have && want && !strcmp(have, want)) {
				bk_set_err(err, errlen, "table %s.%s exists; a restore only creates tables (drop it first)",
					   t->database, have);
				r = -EEXIST;
				goto out;
			}
		}
	}
out:
	cJSON_Delete(rows);
	return r;
}

static int replay_offsets(const struct bk_target *t, const cJSON *m,
			  char *err, size_t errlen)
{
	cJSON *merged = NULL;
	int r = bk_merge_offsets(&m, 1, &merged, err, errlen);

	if (r == 0)
		r = bk_commit_merged(t, merged, err, errlen);
	cJSON_Delete(merged);
	return r;
}

/* Does the database hold table `name`? 1 yes, 0 no, or a negative errno. */
static int table_exists(const struct bk_target *t, const char *name, char *err, size_t errlen)
{
	cJSON *rows = NULL;
	struct buf sql;
	int r;

	buf_init(&sql, 4096);
	r = buf_append_str(&sql, "SELECT count() AS n FROM system.tables WHERE database = ");
	if (r == 0)
		r = ch_quote(t->database, &sql);
	if (r == 0)
		r = buf_append_str(&sql, " AND name = ");
	if (r == 0)
		r = ch_quote(name, &sql);
	if (r == 0)
		r = ch_query(t->ch, buf_str(&sql), &rows, err, errlen);
	buf_free(&sql);
	if (r == 0) {
		const cJSON *n = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "n");

		/* UInt64 comes as a string in JSON output. */
		r = (cJSON_IsString(n) && strcmp(n->valuestring, "0")) ||
		    (cJSON_IsNumber(n) && n->valuedouble > 0);
	}
	cJSON_Delete(rows);
	return r;
}

/* BK_RESTORE_KAFKA and BK_RESTORE_VIEWS: the tables of engine stage
 * `stage` (1 Kafka, 2 views) that are missing. */
static int create_missing(const struct bk_target *t, const cJSON *tables, int stage,
			  struct bk_result *res, char *err, size_t errlen)
{
	const cJSON *te;
	unsigned ti = 0;
	int r = 0;

	cJSON_ArrayForEach(te, tables) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(te, "name"));

		if (bk_engine_stage(cJSON_GetStringValue(cJSON_GetObjectItem(te, "engine"))) == stage) {
			r = name ? table_exists(t, name, err, errlen) : 0;
			if (r == 0)
				r = create_table(t, te, ti, res, err, errlen);
			if (r < 0)
				return r;
		}
		ti++;
	}
	return 0;
}

int bk_restore(const struct bk_target *t, const char *name,
	       const struct bk_restore_opts *o, struct bk_result *res,
	       char *err, size_t errlen)
{
	const cJSON *tables, *te;
	cJSON *m = NULL;
	struct buf sql, root;
	int r, stage;

	memset(res, 0, sizeof(*res));
	if (!bk_valid_name(name, BK_MAX_NAME)) {
		bk_set_err(err, errlen, "backup name: want [A-Za-z0-9._-]{1,%d}, got '%s'",
			   BK_MAX_NAME, name ? name : "");
		return -EINVAL;
	}
	r = bk_read_manifest(t, name, &m, err, errlen);
	if (r < 0)
		return r;
	tables = cJSON_GetObjectItem(m, "tables");
	buf_init(&sql, 4096);
	buf_init(&root, BK_MAX_PATH);
	if (o->stage == BK_RESTORE_KAFKA || o->stage == BK_RESTORE_VIEWS) {
		r = create_missing(t, tables, o->stage == BK_RESTORE_KAFKA ? 1 : 2, res, err, errlen);
		goto out;
	}
	r = refuse_existing(t, tables, err, errlen);
	if (r == 0) {
		r = fetch_all(t, tables, res, err, errlen);
		if (r < 0)
			append_err(err, errlen, "; nothing was restored: no table was created, no part "
				   "attached, and the downloaded files were removed");
	}
	if (r == 0)
		r = buf_append_str(&sql, "CREATE DATABASE IF NOT EXISTS ");
	if (r == 0)
		r = ch_quote_ident(t->database, &sql);
	if (r == 0)
		r = ch_exec(t->ch, buf_str(&sql), err, errlen);
	for (stage = 0; stage < (o->stage == BK_RESTORE_DATA ? 1 : 3) && r == 0; stage++) {
		unsigned ti = 0;

		if (stage == 1 && o->replay_kafka)
			r = replay_offsets(t, m, err, errlen);
		cJSON_ArrayForEach(te, tables) {
			if (r < 0)
				break;
			if (bk_engine_stage(cJSON_GetStringValue(cJSON_GetObjectItem(te, "engine"))) == stage)
				r = create_table(t, te, ti, res, err, errlen);
			ti++;
		}
	}
	/* What is left staged: everything after a failed download, the parts
	 * of the tables after one that failed. */
	if (staging_root(t, &root) == 0)
		bk_remove_tree(buf_str(&root));
out:
	buf_free(&root);
	buf_free(&sql);
	cJSON_Delete(m);
	return r;
}
