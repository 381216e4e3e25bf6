/*
 * backup: what the Distributed tables still had to send at the FREEZE.
 *
 * PostHog's bucket views write through writable_events, a Distributed
 * table. With insert_distributed_sync = 0 (the default) an INSERT into it
 * returns once the block is written into a file of the table's own
 * directory, <path>/data/<db>/<table>/<destination>/<n>.bin, and a
 * background thread sends the files on to the shards (ClickHouse
 * dbms/src/Storages/Distributed/DistributedBlockOutputStream.cpp,
 * writeAsync; DirectoryMonitor.cpp). The Kafka engine commits its offsets
 * once that INSERT returned, so a row behind the recorded offsets may still
 * sit in such a file at the FREEZE: in no frozen part, and not read again
 * by a replay. 18.16 has no SYSTEM FLUSH DISTRIBUTED (its
 * dbms/src/Parsers/ASTSystemQuery.h knows FLUSH LOGS only; the statement
 * came in 19.x), so the agent cannot empty the queue; it counts the files
 * left right after the FREEZE and records them in the manifest with the
 * server's insert_distributed_sync, and says so in its log when there
 * were any. docs/backups.md says what to do.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backup-private.h"

#define BK_MAX_QUEUE_DIRS 4096

/* Files named *.bin directly in dir. */
static unsigned long count_bin(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned long n = 0;
	size_t len;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		len = strlen(e->d_name);
		if (len > 4 && !strcmp(e->d_name + len - 4, ".bin"))
			n++;
	}
	closedir(d);
	return n;
}

/* The *.bin files in every destination directory of one Distributed
 * table's directory. */
static int queued_files(const struct bk_target *t, const char *table, unsigned long *out)
{
	char sub[BK_MAX_PATH];
	struct dirent *e;
	struct buf dir;
	unsigned dirs = 0;
	DIR *d;
	int r;

	*out = 0;
	buf_init(&dir, BK_MAX_PATH);
	r = buf_printf(&dir, "%s/data/", t->clickhouse_path);
	if (r == 0)
		r = bk_escape_file_name(t->database, &dir);
	if (r == 0)
		r = buf_append_str(&dir, "/");
	if (r == 0)
		r = bk_escape_file_name(table, &dir);
	d = r == 0 ? opendir(buf_str(&dir)) : NULL;
	while (d && (e = readdir(d)) && dirs++ < BK_MAX_QUEUE_DIRS) {
		if (e->d_name[0] == '.')
			continue;
		if (bk_path_join(sub, sizeof(sub), buf_str(&dir), e->d_name) == 0)
			*out += count_bin(sub);
	}
	if (d)
		closedir(d);
	buf_free(&dir);
	return r;
}

int bk_record_distributed_queue(const struct bk_target *t, const cJSON *tables,
				cJSON *manifest)
{
	cJSON *arr = cJSON_CreateArray(), *o, *rows = NULL;
	const cJSON *row;
	unsigned long n, total = 0;
	char err[256];

	cJSON_ArrayForEach(row, tables) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));
		const char *engine = cJSON_GetStringValue(cJSON_GetObjectItem(row, "engine"));

		if (!name || !engine || strcmp(engine, "Distributed") ||
		    queued_files(t, name, &n) < 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "table", name);
		cJSON_AddNumberToObject(o, "pendingFiles", (double)n);
		cJSON_AddItemToArray(arr, o);
		total += n;
	}
	cJSON_AddItemToObject(manifest, "distributedQueue", arr);
	/* The agent's session has its user's profile, the operator's admin
	 * user the default profile, which is also what the Kafka engine's
	 * inserts run with (the server's global context). */
	if (ch_query(t->ch, "SELECT value FROM system.settings WHERE name = 'insert_distributed_sync'",
		     &rows, err, sizeof(err)) == 0) {
		const char *v = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "value"));

		if (v)
			cJSON_AddBoolToObject(manifest, "insertDistributedSync", !strcmp(v, "1"));
	} else if (t->log) {
		/* The manifest only lacks insertDistributedSync then; the
		 * backup goes on. */
		log_write(t->log, LOG_WARN, NULL,
			  "backup: reading insert_distributed_sync failed, the manifest will not record it: %s",
			  err);
	}
	cJSON_Delete(rows);
	if (total > 0 && t->log)
		log_write(t->log, LOG_WARN, NULL,
			  "backup: %lu block file(s) were still queued in Distributed tables at the "
			  "FREEZE; rows in them before the recorded Kafka offsets are in no shard's "
			  "backup (docs/backups.md, \"Rows in flight\")", total);
	return 0;
}
