/*
 * backup: taking a backup of one shard (bk_backup).
 *
 * ClickHouse 18.16's ALTER TABLE t FREEZE (without PARTITION, all
 * partitions) hard-links every active part of t into
 * <path>/shadow/<N>/data/<db>/<table>/<part>/, where N is the number it
 * has just written to <path>/shadow/increment.txt (ClickHouse's
 * MergeTreeData::freezePartitionsByMatcher and docs/en/query_language/
 * alter.md, "FREEZE PARTITION"; checked against the server in
 * hack/test.d/27-backup). Hard links share the bytes, so the copy costs no
 * space until merges remove the originals; the agent removes its shadow
 * directories when it is done.
 *
 * All tables are frozen first, one statement each right after the other,
 * and only then uploaded, so that the tables of a backup are as close in
 * time as ClickHouse allows (FREEZE is not atomic across tables).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup-private.h"

struct frozen {
	const cJSON *table;   /* borrowed from the table rows */
	char dir[BK_MAX_PATH]; /* shadow/<N>/data/<db>/<table> */
	char shadow[BK_MAX_PATH]; /* shadow/<N>, removed at the end */
};

struct keyset {
	char **keys;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void keyset_free(struct keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		free(ks->keys[i]);
	free(ks->keys);
}

/* The store's keys under prefix, sorted for bsearch. */
static int keyset_load(struct s3_client *s3, const char *prefix,
		       struct keyset *ks, char *err, size_t errlen)
{
	cJSON *arr = NULL, *o;
	int r = s3_list(s3, prefix, &arr, err, errlen);

	memset(ks, 0, sizeof(*ks));
	if (r < 0)
		return r;
	ks->keys = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
	if (!ks->keys)
		abort();
	cJSON_ArrayForEach(o, arr) {
		ks->keys[ks->n] = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(o, "key")));
		if (!ks->keys[ks->n])
			abort();
		ks->n++;
	}
	cJSON_Delete(arr);
	qsort(ks->keys, ks->n, sizeof(char *), cmp_str);
	return 0;
}

static bool keyset_has(const struct keyset *ks, const char *key)
{
	return ks->n && bsearch(&key, ks->keys, ks->n, sizeof(char *), cmp_str) != NULL;
}


/* The file the agent puts into each shadow/N it made, so that the next
 * run can remove what a killed run left behind. */
#define BK_SHADOW_MARK "posthog-backup-agent"

static void mark_shadow(const char *shadow)
{
	char path[BK_MAX_PATH];
	FILE *f;

	if (bk_path_join(path, sizeof(path), shadow, BK_SHADOW_MARK) < 0)
		return;
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

/* Removes the shadow/N directories that carry our mark: copies of an
 * earlier run that was killed before it could remove them. Directories
 * without the mark (someone else's FREEZE) are left alone. */
static void remove_stale_shadows(const struct bk_target *t)
{
	char shadow[BK_MAX_PATH], dir[BK_MAX_PATH], mark[BK_MAX_PATH];
	struct dirent *e;
	DIR *d;

	if (bk_path_join(shadow, sizeof(shadow), t->clickhouse_path, "shadow") < 0)
		return;
	d = opendir(shadow);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || bk_path_join(dir, sizeof(dir), shadow, e->d_name) < 0 ||
		    bk_path_join(mark, sizeof(mark), dir, BK_SHADOW_MARK) < 0)
			continue;
		if (access(mark, F_OK) == 0) {
			log_info(t->log, "backup: removing %s, left by a run that did not finish", dir);
			bk_remove_tree(dir);
		}
	}
	closedir(d);
}

/* Reads a small text file (count.txt, increment.txt) as an integer. */
static int read_uint(const char *path, uint64_t *out)
{
	char line[64];
	char *end;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	errno = 0;
	*out = strtoull(line, &end, 10);
	if (end == line || errno)
		return -EBADMSG;
	return 0;
}

static int freeze_table(const struct bk_target *t, const cJSON *row,
			struct frozen *fz, char *err, size_t errlen)
{
	const char *table = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));
	struct buf sql, path;
	char inc_path[BK_MAX_PATH];
	uint64_t n = 0;
	int r;

	buf_init(&sql, 4096);
	buf_init(&path, BK_MAX_PATH);
	r = buf_append_str(&sql, "ALTER TABLE ");
	if (r == 0)
		r = ch_quote_ident(t->database, &sql);
	if (r == 0)
		r = buf_append_str(&sql, ".");
	if (r == 0)
		r = ch_quote_ident(table, &sql);
	if (r == 0)
		r = buf_append_str(&sql, " FREEZE");
	if (r < 0) {
		bk_set_err(err, errlen, "table name too long: %.80s", table);
		goto out;
	}
	r = ch_exec(t->ch, buf_str(&sql), err, errlen);
	if (r < 0)
		goto out;
	snprintf(inc_path, sizeof(inc_path), "%s/shadow/increment.txt", t->clickhouse_path);
	r = read_uint(inc_path, &n);
	if (r < 0) {
		bk_set_err(err, errlen, "after FREEZE of %s: cannot read %s: %s (is --clickhouse-path the server's <path>?)",
			   table, inc_path, strerror(-r));
		goto out;
	}
	r = buf_printf(&path, "%s/shadow/%llu", t->clickhouse_path, (unsigned long long)n);
	if (r == 0) {
		snprintf(fz->shadow, sizeof(fz->shadow), "%s", buf_str(&path));
		mark_shadow(fz->shadow);
	}
	if (r == 0)
		r = buf_append_str(&path, "/data/");
	if (r == 0)
		r = bk_escape_file_name(t->database, &path);
	if (r == 0)
		r = buf_append_str(&path, "/");
	if (r == 0)
		r = bk_escape_file_name(table, &path);
	if (r < 0 || path.len >= sizeof(fz->dir)) {
		bk_set_err(err, errlen, "path of table %s too long", table);
		r = -EMSGSIZE;
		goto out;
	}
	snprintf(fz->dir, sizeof(fz->dir), "%s", buf_str(&path));
	fz->table = row;
out:
	buf_free(&sql);
	buf_free(&path);
	return r;
}

/* The regular files of dir, sorted, with checksums.txt moved last (a part
 * in the store is complete once its checksums.txt is there). */
static int part_files(const char *dir, char ***out, size_t *nout)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL, *last = NULL;
	size_t n = 0, cap = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 32;
			v = realloc(v, cap * sizeof(char *));
			if (!v)
				abort();
		}
		v[n] = strdup(e->d_name);
		if (!v[n])
			abort();
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i], "checksums.txt")) {
			last = v[i];
			memmove(v + i, v + i + 1, (n - i - 1) * sizeof(char *));
			v[n - 1] = last;
			break;
		}
	}
	*out = v;
	*nout = n;
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The identity of a part's bytes: the SHA-256 of its "name sha256\n"
 * lines (files sorted by name), first 32 hex digits. Two parts with the
 * same identity hold the same files with the same contents, whatever their
 * names (a restored part is renamed by ATTACH but keeps its bytes). */
static void part_sum(const cJSON *files, char sum[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const cJSON *f;

	if (!ctx)
		abort();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	cJSON_ArrayForEach(f, files) {
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));
		const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(f, "sha256"));

		EVP_DigestUpdate(ctx, n, strlen(n));
		EVP_DigestUpdate(ctx, " ", 1);
		EVP_DigestUpdate(ctx, h, strlen(h));
		EVP_DigestUpdate(ctx, "\n", 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 16 && i < mdlen; i++)
		snprintf(sum + 2 * i, 3, "%02x", md[i]);
	sum[32] = '\0';
}

/* Hashes every file of one frozen part into a manifest entry. */
static int hash_part(const char *table, const char *pdir, const char *part,
		     cJSON **entry, uint64_t *size, char *err, size_t errlen)
{
	char fpath[BK_MAX_PATH], hex[65];
	char **files = NULL;
	size_t nfiles = 0, i;
	uint64_t rows = 0;
	struct stat st;
	cJSON *e, *fl, *fo;
	int r;

	r = part_files(pdir, &files, &nfiles);
	if (r < 0) {
		bk_set_err(err, errlen, "part %s of %s: %s: %s", part, table, pdir, strerror(-r));
		return r;
	}
	*size = 0;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", part);
	fl = cJSON_AddArrayToObject(e, "files");
	for (i = 0; i < nfiles && r == 0; i++) {
		r = bk_path_join(fpath, sizeof(fpath), pdir, files[i]);
		if (r == 0 && stat(fpath, &st) < 0)
			r = -errno;
		if (r == 0)
			r = s3_sha256_file(fpath, hex);
		if (r < 0) {
			bk_set_err(err, errlen, "part %s of %s: %s: %s", part, table, fpath, strerror(-r));
			break;
		}
		fo = cJSON_CreateObject();
		cJSON_AddStringToObject(fo, "name", files[i]);
		cJSON_AddStringToObject(fo, "sha256", hex);
		cJSON_AddNumberToObject(fo, "size", (double)st.st_size);
		cJSON_AddItemToArray(fl, fo);
		*size += (uint64_t)st.st_size;
	}
	if (r == 0 && bk_path_join(fpath, sizeof(fpath), pdir, "count.txt") == 0 &&
	    read_uint(fpath, &rows) == 0)
		cJSON_AddNumberToObject(e, "rows", (double)rows);
	cJSON_AddNumberToObject(e, "bytes", (double)*size);
	free_strv(files, nfiles);
	if (r < 0) {
		cJSON_Delete(e);
		return r;
	}
	*entry = e;
	return 0;
}

/* Hashes one frozen part, uploads it unless the store has it complete
 * (checksums.txt goes last, see part_files), and returns its manifest
 * entry. */
static int backup_part(const struct bk_target *t, const char *table,
		       const char *dir, const char *part, const struct keyset *have,
		       cJSON **entry, struct bk_result *res, char *err,
		       size_t errlen)
{
	char pdir[BK_MAX_PATH], fpath[BK_MAX_PATH], sum[33];
	struct buf prefix, key;
	uint64_t size = 0;
	bool stored;
	cJSON *e = NULL, *f, *last;
	int r;

	buf_init(&prefix, BK_MAX_PATH);
	buf_init(&key, BK_MAX_PATH);
	r = bk_path_join(pdir, sizeof(pdir), dir, part);
	if (r == 0)
		r = hash_part(table, pdir, part, &e, &size, err, errlen);
	if (r < 0)
		goto out;
	part_sum(cJSON_GetObjectItem(e, "files"), sum);
	last = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "files"),
				  cJSON_GetArraySize(cJSON_GetObjectItem(e, "files")) - 1);
	r = bk_part_prefix(t, table, sum, &prefix);
	if (r == 0)
		r = buf_printf(&key, "%s%s", buf_str(&prefix),
			       last ? cJSON_GetStringValue(cJSON_GetObjectItem(last, "name")) : "");
	if (r < 0) {
		bk_set_err(err, errlen, "key of part %s of %s too long", part, table);
		goto out;
	}
	cJSON_AddStringToObject(e, "key", buf_str(&prefix));
	stored = keyset_has(have, buf_str(&key));
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "files")) {
		const char *fn = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));

		if (stored)
			break;
		buf_reset(&key);
		r = buf_printf(&key, "%s%s", buf_str(&prefix), fn);
		if (r == 0)
			r = bk_path_join(fpath, sizeof(fpath), pdir, fn);
		if (r == 0)
			r = s3_put_file(t->s3, buf_str(&key), fpath,
					cJSON_GetStringValue(cJSON_GetObjectItem(f, "sha256")),
					err, errlen);
		if (r < 0)
			goto out;
		res->files_uploaded++;
		res->bytes_uploaded += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(f, "size"));
	}
	res->parts++;
	res->bytes += size;
	res->rows += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "rows"));
	if (!stored)
		res->parts_uploaded++;
	*entry = e;
	e = NULL;
out:
	cJSON_Delete(e);
	buf_free(&prefix);
	buf_free(&key);
	return r;
}

static int backup_table(const struct bk_target *t, const struct frozen *fz,
			cJSON *tentry, const struct keyset *have,
			struct bk_result *res, char *err, size_t errlen)
{
	const char *table = cJSON_GetStringValue(cJSON_GetObjectItem(fz->table, "name"));
	cJSON *parts = cJSON_AddArrayToObject(tentry, "parts"), *pe;
	char **names = NULL;
	size_t n = 0, i;
	uint64_t rows = 0;
	bool counted = true;
	int r;

	r = part_files(fz->dir, &names, &n);
	if (r == -ENOENT)
		r = 0; /* an empty table: FREEZE links nothing */
	else if (r < 0)
		bk_set_err(err, errlen, "table %s: %s: %s", table, fz->dir, strerror(-r));
	for (i = 0; i < n && r == 0; i++) {
		pe = NULL;
		r = backup_part(t, table, fz->dir, names[i], have, &pe, res, err, errlen);
		if (r < 0)
			break;
		if (cJSON_GetObjectItem(pe, "rows"))
			rows += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(pe, "rows"));
		else
			counted = false;
		cJSON_AddItemToArray(parts, pe);
	}
	if (r == 0 && counted)
		cJSON_AddNumberToObject(tentry, "rows", (double)rows);
	free_strv(names, n);
	return r;
}

static int list_tables(const struct bk_target *t, cJSON **rows, char *err,
		       size_t errlen)
{
	struct buf sql;
	int r;

	buf_init(&sql, 4096);
	r = buf_append_str(&sql, "SELECT name, engine, create_table_query FROM system.tables WHERE database = ");
	if (r == 0)
		r = ch_quote(t->database, &sql);
	if (r == 0)
		r = buf_append_str(&sql, " ORDER BY name");
	if (r == 0)
		r = ch_query(t->ch, buf_str(&sql), rows, err, errlen);
	else
		bk_set_err(err, errlen, "database name too long");
	buf_free(&sql);
	return r;
}

/* The consumer-group offsets of every Kafka table, read before the
 * FREEZE: ClickHouse commits an offset only after the block is written,
 * so the frozen parts hold at least everything before these offsets, and
 * a replay from them loses nothing (it may ingest some rows twice). */
static int record_offsets(const struct bk_target *t, const cJSON *tables,
			  cJSON *manifest, char *err, size_t errlen)
{
	cJSON *kafka = cJSON_AddArrayToObject(manifest, "kafka"), *row, *offs, *k;
	struct bk_kafka_args ka;
	int r = 0;

	cJSON_ArrayForEach(row, tables) {
		const char *engine = cJSON_GetStringValue(cJSON_GetObjectItem(row, "engine"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));
		const char *ddl = cJSON_GetStringValue(cJSON_GetObjectItem(row, "create_table_query"));

		if (bk_engine_stage(engine) != 1)
			continue;
		if (bk_parse_kafka_ddl(ddl ? ddl : "", &ka) < 0) {
			bk_set_err(err, errlen, "Kafka table %s: no topic or consumer group in its DDL", name);
			return -EINVAL;
		}
		offs = NULL;
		r = bk_kafka_read_offsets(t->kafka_bootstrap ? t->kafka_bootstrap : ka.brokers,
					  ka.group, ka.topics, &offs, err, errlen);
		if (r < 0)
			return r;
		k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "table", name);
		cJSON_AddStringToObject(k, "group", ka.group);
		cJSON_AddStringToObject(k, "topics", ka.topics);
		cJSON_AddItemToObject(k, "offsets", offs);
		cJSON_AddItemToArray(kafka, k);
	}
	return 0;
}

static void iso_now(char *out, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_manifest(const struct bk_target *t, const char *name,
			  cJSON *m, char *err, size_t errlen)
{
	struct buf key;
	char *text = cJSON_PrintUnformatted(m);
	int r;

	if (!text)
		abort();
	buf_init(&key, BK_MAX_PATH);
	r = bk_manifest_key(t, name, &key);
	if (r == 0)
		r = s3_put(t->s3, buf_str(&key), text, strlen(text), err, errlen);
	free(text);
	buf_free(&key);
	return r;
}

static int check_args(const struct bk_target *t, const char *name, char *err,
		      size_t errlen)
{
	if (!bk_valid_name(name, BK_MAX_NAME)) {
		bk_set_err(err, errlen, "backup name: want [A-Za-z0-9._-]{1,%d}, got '%s'",
			   BK_MAX_NAME, name ? name : "");
		return -EINVAL;
	}
	if (!bk_valid_name(t->shard, 32) || strchr(t->shard, '.')) {
		bk_set_err(err, errlen, "shard: want [A-Za-z0-9_-]{1,32}, got '%s'",
			   t->shard ? t->shard : "");
		return -EINVAL;
	}
	if (!t->database || !*t->database) {
		bk_set_err(err, errlen, "no database given");
		return -EINVAL;
	}
	return 0;
}

int bk_backup(const struct bk_target *t, const char *name,
	      struct bk_result *res, char *err, size_t errlen)
{
	struct frozen *fz = NULL;
	struct keyset have = { 0 };
	struct buf key;
	cJSON *tables = NULL, *m = NULL, *arr, *row, *te, *found = NULL;
	char ts[32];
	size_t nfz = 0, i;
	int r;

	memset(res, 0, sizeof(*res));
	r = check_args(t, name, err, errlen);
	if (r < 0)
		return r;
	buf_init(&key, BK_MAX_PATH);
	r = bk_manifest_key(t, name, &key);
	if (r == 0)
		r = s3_list(t->s3, buf_str(&key), &found, err, errlen);
	if (r == 0 && cJSON_GetArraySize(found) > 0) {
		bk_set_err(err, errlen, "backup %s of shard %s exists (%s)", name, t->shard, buf_str(&key));
		r = -EEXIST;
	}
	cJSON_Delete(found);
	if (r < 0)
		goto out;
	remove_stale_shadows(t);
	r = list_tables(t, &tables, err, errlen);
	if (r < 0)
		goto out;
	m = cJSON_CreateObject();
	cJSON_AddNumberToObject(m, "version", 1);
	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddStringToObject(m, "shard", t->shard);
	cJSON_AddStringToObject(m, "database", t->database);
	iso_now(ts, sizeof(ts));
	cJSON_AddStringToObject(m, "startedAt", ts);
	cJSON_AddNumberToObject(m, "startedAtUnix", (double)time(NULL));
	r = record_offsets(t, tables, m, err, errlen);
	if (r < 0)
		goto out;
	fz = calloc((size_t)cJSON_GetArraySize(tables) + 1, sizeof(*fz));
	if (!fz)
		abort();
	cJSON_ArrayForEach(row, tables) {
		const char *tn = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));
		const char *engine = cJSON_GetStringValue(cJSON_GetObjectItem(row, "engine"));

		/* A view's implicit .inner. table is recreated by its view;
		 * PostHog's views all write TO a named table instead. */
		if (!tn || !strncmp(tn, ".inner.", 7) || !bk_is_mergetree(engine))
			continue;
		r = freeze_table(t, row, &fz[nfz], err, errlen);
		if (r < 0)
			goto out;
		nfz++;
	}
	r = bk_record_distributed_queue(t, tables, m);
	if (r < 0)
		goto out;
	buf_reset(&key);
	r = buf_printf(&key, "%s%sparts/%s/", t->prefix, t->prefix[0] ? "/" : "", t->shard);
	if (r == 0)
		r = keyset_load(t->s3, buf_str(&key), &have, err, errlen);
	if (r < 0)
		goto out;
	arr = cJSON_AddArrayToObject(m, "tables");
	cJSON_ArrayForEach(row, tables) {
		const char *tn = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));

		if (!tn || !strncmp(tn, ".inner.", 7))
			continue;
		te = cJSON_CreateObject();
		cJSON_AddStringToObject(te, "name", tn);
		cJSON_AddStringToObject(te, "engine",
					cJSON_GetStringValue(cJSON_GetObjectItem(row, "engine")));
		cJSON_AddStringToObject(te, "ddl",
					cJSON_GetStringValue(cJSON_GetObjectItem(row, "create_table_query")));
		cJSON_AddItemToArray(arr, te);
		res->tables++;
		for (i = 0; i < nfz; i++)
			if (fz[i].table == row)
				break;
		if (i < nfz) {
			r = backup_table(t, &fz[i], te, &have, res, err, errlen);
			if (r < 0)
				goto out;
		}
	}
	iso_now(ts, sizeof(ts));
	cJSON_AddStringToObject(m, "finishedAt", ts);
	cJSON_AddNumberToObject(m, "finishedAtUnix", (double)time(NULL));
	cJSON_AddNumberToObject(m, "bytes", (double)res->bytes);
	cJSON_AddNumberToObject(m, "parts", (double)res->parts);
	cJSON_AddNumberToObject(m, "partsUploaded", (double)res->parts_uploaded);
	cJSON_AddNumberToObject(m, "bytesUploaded", (double)res->bytes_uploaded);
	cJSON_AddNumberToObject(m, "rows", (double)res->rows);
	r = write_manifest(t, name, m, err, errlen);
out:
	for (i = 0; i < nfz; i++)
		bk_remove_tree(fz[i].shadow);
	free(fz);
	keyset_free(&have);
	cJSON_Delete(tables);
	cJSON_Delete(m);
	buf_free(&key);
	return r;
}
