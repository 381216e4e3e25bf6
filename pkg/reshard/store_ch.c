/*
 * The ClickHouse progress store of reshard.h: every save inserts the whole
 * document as a new row of <database>_reshard.progress with the next
 * sequence number; a load reads the row with the highest. The table is a
 * ReplacingMergeTree on a constant key with the sequence as its version,
 * so ClickHouse's own merges drop the superseded rows; a read never relies
 * on them. An INSERT that returned is on the server's disk, so a kill of
 * the process leaves the last saved document (the operator reads the same
 * row to follow the plan, without credentials of its own in the Job).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/chsql/chsql.h"
#include "pkg/clickhouse/clickhouse.h"
#include "pkg/util/util.h"
#include "reshard.h"

#define CH_UNKNOWN_TABLE 60
#define DOC_CAP (64u * 1024u * 1024u)

static int table_of(const char *database, struct buf *out)
{
	char db[RS_MAX_NAME + 16];

	if ((size_t)snprintf(db, sizeof(db), "%s_reshard", database) >= sizeof(db))
		return -EINVAL;
	if (ch_quote_ident(db, out) || buf_append_str(out, ".progress"))
		return -EMSGSIZE;
	return 0;
}

int rs_progress_read(struct ch_client *ch, const char *database, cJSON **doc,
		     unsigned long long *seq, char *err, size_t errlen)
{
	struct buf sql;
	cJSON *rows = NULL;
	const cJSON *row, *d, *s;
	char why[1024];
	int rc;

	*doc = NULL;
	if (seq)
		*seq = 0;
	buf_init(&sql, 4096);
	rc = buf_append_str(&sql, "SELECT toString(seq) AS seq, doc FROM ");
	if (!rc)
		rc = table_of(database, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " ORDER BY seq DESC LIMIT 1");
	if (rc) {
		buf_free(&sql);
		snprintf(err, errlen, "database name too long");
		return -EINVAL;
	}
	rc = ch_query(ch, buf_str(&sql), &rows, why, sizeof(why));
	buf_free(&sql);
	if (rc) {
		int code = ch_exception_code(why);

		if (code == CH_UNKNOWN_TABLE || code == CH_UNKNOWN_DATABASE)
			return 0;
		snprintf(err, errlen, "reading the reshard progress: %s", why);
		return rc;
	}
	row = cJSON_GetArrayItem(rows, 0);
	d = cJSON_GetObjectItemCaseSensitive(row, "doc");
	s = cJSON_GetObjectItemCaseSensitive(row, "seq");
	if (row && (!cJSON_IsString(d) || !cJSON_IsString(s))) {
		snprintf(err, errlen, "reading the reshard progress: unexpected answer");
		rc = -EBADMSG;
	} else if (row) {
		*doc = cJSON_Parse(d->valuestring);
		if (!*doc) {
			snprintf(err, errlen, "the reshard progress document is not JSON");
			rc = -EBADMSG;
		} else if (seq) {
			*seq = strtoull(s->valuestring, NULL, 10);
		}
	}
	cJSON_Delete(rows);
	return rc;
}

static int ch_load(void *userdata, cJSON **doc, char *err, size_t errlen)
{
	struct rs_ch_store *s = userdata;

	return rs_progress_read(s->ch, s->database, doc, &s->seq, err, errlen);
}

static int ensure_table(struct rs_ch_store *s, char *err, size_t errlen)
{
	struct buf sql;
	char db[RS_MAX_NAME + 16], why[1024];
	int rc;

	buf_init(&sql, 4096);
	snprintf(db, sizeof(db), "%s_reshard", s->database);
	rc = buf_append_str(&sql, "CREATE DATABASE IF NOT EXISTS ");
	if (!rc)
		rc = ch_quote_ident(db, &sql);
	if (!rc)
		rc = ch_exec(s->ch, buf_str(&sql), why, sizeof(why));
	buf_reset(&sql);
	if (!rc)
		rc = buf_append_str(&sql, "CREATE TABLE IF NOT EXISTS ");
	if (!rc)
		rc = table_of(s->database, &sql);
	if (!rc)
		rc = buf_append_str(&sql, " (k UInt8 DEFAULT 0, seq UInt64, doc String) "
				    "ENGINE = ReplacingMergeTree(seq) ORDER BY k");
	if (!rc)
		rc = ch_exec(s->ch, buf_str(&sql), why, sizeof(why));
	buf_free(&sql);
	if (rc)
		snprintf(err, errlen, "creating the reshard progress table: %s", why);
	else
		s->created = true;
	return rc;
}

static int ch_save(void *userdata, const cJSON *doc, char *err, size_t errlen)
{
	struct rs_ch_store *s = userdata;
	struct buf sql;
	char *text, why[1024];
	int rc = 0;

	if (!s->created)
		rc = ensure_table(s, err, errlen);
	if (rc)
		return rc;
	text = util_nn(cJSON_PrintUnformatted(doc));
	buf_init(&sql, DOC_CAP);
	rc = buf_append_str(&sql, "INSERT INTO ");
	if (!rc)
		rc = table_of(s->database, &sql);
	if (!rc)
		rc = buf_printf(&sql, " (seq, doc) VALUES (%llu, ", s->seq + 1);
	if (!rc)
		rc = ch_quote(text, &sql);
	if (!rc)
		rc = buf_append_str(&sql, ")");
	free(text);
	if (rc) {
		buf_free(&sql);
		snprintf(err, errlen, "the reshard progress document passes 64 MiB");
		return -EMSGSIZE;
	}
	rc = ch_exec(s->ch, buf_str(&sql), why, sizeof(why));
	buf_free(&sql);
	if (rc) {
		snprintf(err, errlen, "saving the reshard progress: %s", why);
		return rc;
	}
	s->seq++;
	return 0;
}

void rs_clickhouse_store(struct rs_ch_store *s, struct ch_client *ch,
			 const char *database, struct rs_store *out)
{
	memset(s, 0, sizeof(*s));
	s->ch = ch;
	snprintf(s->database, sizeof(s->database), "%s", database);
	out->load = ch_load;
	out->save = ch_save;
	out->userdata = s;
}
