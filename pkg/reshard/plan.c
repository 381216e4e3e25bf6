/*
 * The pure half of reshard.h: engine text parsing, table discovery from
 * system.tables rows, and the SQL of each step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/chsql/chsql.h"
#include "pkg/util/util.h"
#include "reshard.h"

static const char *const state_names[] = {
	[RS_PENDING] = "pending",     [RS_COPYING] = "copying",
	[RS_COPIED] = "copied",       [RS_VERIFIED] = "verified",
	[RS_ATTACHING] = "attaching", [RS_ATTACHED] = "attached",
	[RS_DELETING] = "deleting",   [RS_DONE] = "done",
};

const char *rs_state_name(enum rs_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return NULL;
	return state_names[s];
}

int rs_state_parse(const char *name, enum rs_state *out)
{
	size_t i;

	for (i = 0; name && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (!strcmp(name, state_names[i])) {
			*out = (enum rs_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Finds the end of the parenthesised argument list that starts at
 * text[open] == '(': the index of its ')', skipping quoted strings and
 * nested parentheses. -1 when it does not end.
 */
static long match_paren(const char *text, size_t open)
{
	size_t i;
	int depth = 0;
	char quote = 0;

	for (i = open; text[i]; i++) {
		char c = text[i];

		if (quote) {
			if (c == '\\' && text[i + 1])
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '\'' || c == '`' || c == '"')
			quote = c;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			return (long)i;
	}
	return -1;
}

/* The next top-level argument of args[*pos..end): its bounds, trimmed, in
 * *b and *e; *pos moves past its comma. Returns 0, or -ENOENT at the end. */
static int next_arg(const char *args, size_t end, size_t *pos, size_t *b,
		    size_t *e)
{
	size_t i = *pos;
	int depth = 0;
	char quote = 0;

	while (i < end && (args[i] == ' ' || args[i] == '\n' || args[i] == '\t'))
		i++;
	if (i >= end)
		return -ENOENT;
	*b = i;
	for (; i < end; i++) {
		char c = args[i];

		if (quote) {
			if (c == '\\' && i + 1 < end)
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '\'' || c == '`' || c == '"')
			quote = c;
		else if (c == '(' || c == '[')
			depth++;
		else if (c == ')' || c == ']')
			depth--;
		else if (c == ',' && depth == 0)
			break;
	}
	*pos = i < end ? i + 1 : end;
	while (i > *b && (args[i - 1] == ' ' || args[i - 1] == '\n' || args[i - 1] == '\t'))
		i--;
	*e = i;
	return 0;
}

/* Copies an identifier or a quoted name (quotes removed, \x unescaped)
 * into out. Returns 0 or -EINVAL. */
static int copy_name(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, n = 0;

	if (len == 0)
		return -EINVAL;
	if (s[0] == '\'' || s[0] == '`' || s[0] == '"') {
		if (len < 3 || s[len - 1] != s[0])
			return -EINVAL;
		for (i = 1; i + 1 < len; i++) {
			char c = s[i];

			if (c == '\\' && i + 2 < len)
				c = s[++i];
			if ((unsigned char)c < 0x20 || n + 1 >= outlen)
				return -EINVAL;
			out[n++] = c;
		}
	} else {
		for (i = 0; i < len; i++) {
			char c = s[i];

			if (!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z')) || n + 1 >= outlen)
				return -EINVAL;
			out[n++] = c;
		}
	}
	out[n] = '\0';
	return 0;
}

int rs_parse_distributed(const char *engine_full, struct rs_distributed *out,
			 char *err, size_t errlen)
{
	static const char head[] = "Distributed(";
	char *names[3] = { out->cluster, out->database, out->table };
	size_t sizes[3] = { sizeof(out->cluster), sizeof(out->database), sizeof(out->table) };
	size_t pos, b, e, i;
	long close;

	if (!engine_full || strncmp(engine_full, head, sizeof(head) - 1)) {
		snprintf(err, errlen, "not a Distributed engine");
		return -EINVAL;
	}
	close = match_paren(engine_full, sizeof(head) - 2);
	if (close < 0) {
		snprintf(err, errlen, "unbalanced Distributed(...) arguments");
		return -EINVAL;
	}
	pos = sizeof(head) - 1;
	for (i = 0; i < 3; i++) {
		if (next_arg(engine_full, (size_t)close, &pos, &b, &e) ||
		    copy_name(engine_full + b, e - b, names[i], sizes[i])) {
			snprintf(err, errlen, "Distributed argument %zu is not a plain name", i + 1);
			return -EINVAL;
		}
	}
	out->key[0] = '\0';
	if (next_arg(engine_full, (size_t)close, &pos, &b, &e) == 0) {
		if (e - b >= sizeof(out->key)) {
			snprintf(err, errlen, "sharding key longer than %zu bytes", sizeof(out->key) - 1);
			return -EINVAL;
		}
		memcpy(out->key, engine_full + b, e - b);
		out->key[e - b] = '\0';
	}
	return 0;
}

int rs_staging_engine(const char *engine_full, struct buf *out, char *err,
		      size_t errlen)
{
	size_t name_len, pos, b, e, argc = 0;
	bool replicated;
	long close;
	int rc;

	name_len = engine_full ? strcspn(engine_full, "( ") : 0;
	if (!name_len || name_len > 64 || !strstr(engine_full, "MergeTree") ||
	    strstr(engine_full, "MergeTree") > engine_full + name_len) {
		snprintf(err, errlen, "not a MergeTree-family engine");
		return -EINVAL;
	}
	replicated = !strncmp(engine_full, "Replicated", 10);
	if (engine_full[name_len] != '(') {
		/* "MergeTree ORDER BY x": no arguments. */
		if (replicated) {
			snprintf(err, errlen, "a Replicated engine without its ZooKeeper path and replica name");
			return -EINVAL;
		}
		return buf_append_str(out, engine_full);
	}
	close = match_paren(engine_full, name_len);
	if (close < 0) {
		snprintf(err, errlen, "unbalanced engine arguments");
		return -EINVAL;
	}
	rc = buf_append(out, engine_full + (replicated ? 10 : 0),
			name_len - (replicated ? 10 : 0) + 1);
	pos = name_len + 1;
	while (!rc && next_arg(engine_full, (size_t)close, &pos, &b, &e) == 0) {
		if (replicated && argc < 2) {
			argc++;
			continue;
		}
		if (argc > (replicated ? 2u : 0u))
			rc = buf_append_str(out, ", ");
		if (!rc)
			rc = buf_append(out, engine_full + b, e - b);
		argc++;
	}
	if (!rc && replicated && argc < 2) {
		snprintf(err, errlen, "a Replicated engine without its ZooKeeper path and replica name");
		return -EINVAL;
	}
	if (!rc)
		rc = buf_append_str(out, engine_full + close);
	return rc;
}

static const char *str_field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *find_row(const cJSON *rows, const char *name)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, rows) {
		const char *n = str_field(r, "name");

		if (n && !strcmp(n, name))
			return r;
	}
	return NULL;
}

void rs_tables_free(struct rs_table *t, size_t n)
{
	size_t i;

	for (i = 0; t && i < n; i++)
		free(t[i].staging_engine);
	free(t);
}

/* Adds (or checks against) the table that distributed row d reads. */
static int add_table(const cJSON *rows, const struct rs_distributed *d,
		     const char *dist_name, struct rs_table **tables, size_t *n,
		     char *err, size_t errlen)
{
	const cJSON *local = find_row(rows, d->table);
	const char *engine = local ? str_field(local, "engine") : NULL;
	const char *sk = local ? str_field(local, "sorting_key") : NULL;
	const char *pk = local ? str_field(local, "partition_key") : NULL;
	struct rs_table *t;
	struct buf staging;
	size_t i;
	int rc;

	for (i = 0; i < *n; i++) {
		if (strcmp((*tables)[i].name, d->table))
			continue;
		if (strcmp((*tables)[i].key, d->key)) {
			snprintf(err, errlen, "%s and another Distributed table shard %s by different keys (%s, %s)",
				 dist_name, d->table, d->key, (*tables)[i].key);
			return -EINVAL;
		}
		return 0;
	}
	if (!engine || !strstr(engine, "MergeTree"))
		return 0; /* not a table whose rows can be moved by partition */
	if (!sk || !*sk || strlen(sk) >= sizeof((*tables)[0].sorting_key)) {
		snprintf(err, errlen, "%s: no usable sorting key", d->table);
		return -EINVAL;
	}
	if (pk && strlen(pk) >= sizeof((*tables)[0].partition_key)) {
		snprintf(err, errlen, "%s: partition key too long", d->table);
		return -EINVAL;
	}
	buf_init(&staging, 64 * 1024);
	rc = rs_staging_engine(str_field(local, "engine_full"), &staging, err, errlen);
	if (rc) {
		buf_free(&staging);
		return rc;
	}
	t = util_xrealloc(*tables, (*n + 1) * sizeof(**tables));
	*tables = t;
	t = &t[(*n)++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", d->table);
	snprintf(t->key, sizeof(t->key), "%s", d->key);
	snprintf(t->sorting_key, sizeof(t->sorting_key), "%s", sk);
	snprintf(t->partition_key, sizeof(t->partition_key), "%s", pk ? pk : "");
	t->staging_engine = buf_take(&staging);
	return 0;
}

int rs_tables_find(const cJSON *rows, const char *database,
		   const char *cluster, struct rs_table **out, size_t *n,
		   char *err, size_t errlen)
{
	struct rs_table *tables = NULL;
	size_t count = 0;
	const cJSON *r;
	int rc = 0;

	cJSON_ArrayForEach(r, rows) {
		const char *engine = str_field(r, "engine");
		const char *name = str_field(r, "name");
		struct rs_distributed d;
		char why[256];

		if (!engine || strcmp(engine, "Distributed") || !name)
			continue;
		rc = rs_parse_distributed(str_field(r, "engine_full"), &d, why, sizeof(why));
		if (rc) {
			snprintf(err, errlen, "%s.%s: %s", database, name, why);
			break;
		}
		if (strcmp(d.cluster, cluster) || strcmp(d.database, database) || !d.key[0])
			continue;
		rc = add_table(rows, &d, name, &tables, &count, err, errlen);
		if (rc)
			break;
	}
	if (rc) {
		rs_tables_free(tables, count);
		return rc;
	}
	*out = tables;
	*n = count;
	return 0;
}

int rs_unit_id(const char *table, const char *partition_id, int source,
	       int target, struct buf *out)
{
	return buf_printf(out, "%s/%s/%d->%d", table, partition_id, source, target);
}

/* Whether expr holds a comma outside parentheses and quotes. */
static bool top_level_comma(const char *expr)
{
	size_t pos = 0, b, e, n = 0, end = strlen(expr);

	while (next_arg(expr, end, &pos, &b, &e) == 0)
		n++;
	return n > 1;
}

/* "(<partition key>) = <partition> AND ", or nothing for a table without
 * a partition key. */
static int partition_cond(const struct rs_table *t, const char *partition,
			  struct buf *out)
{
	const char *pk = t->partition_key;

	if (!*pk || !strcmp(pk, "tuple()"))
		return 0;
	return buf_printf(out, top_level_comma(pk) ? "tuple(%s) = %s AND " : "(%s) = %s AND ",
			  pk, partition);
}

int rs_sql_where(const struct rs_table *t, const char *partition,
		 const char *partition_id, int modulus, int target,
		 struct buf *out)
{
	int rc;

	if (modulus < 1 || target < 0 || target >= modulus || !partition || !*partition)
		return -EINVAL;
	rc = partition_cond(t, partition, out);
	if (!rc)
		rc = buf_append_str(out, "_partition_id = ");
	if (!rc)
		rc = ch_quote(partition_id, out);
	if (!rc)
		rc = buf_printf(out, " AND ((%s) %% %d) = %d", t->key, modulus, target);
	return rc;
}

int rs_sql_delete_where(const struct rs_table *t, const char *partition,
			int modulus, int target, struct buf *out)
{
	int rc;

	if (modulus < 1 || target < 0 || target >= modulus || !partition || !*partition)
		return -EINVAL;
	rc = partition_cond(t, partition, out);
	if (!rc)
		rc = buf_printf(out, "((%s) %% %d) = %d", t->key, modulus, target);
	return rc;
}

int rs_sql_checksum(const struct rs_table *t, const char *from,
		    const char *where, struct buf *out)
{
	return buf_printf(out,
			  "SELECT count() AS n, toString(sum(" RS_ROW_HASH ")) AS sum FROM %s WHERE %s",
			  t->sorting_key, from, where);
}

int rs_sql_columns(const cJSON *rows, struct buf *out)
{
	const cJSON *row;
	int rc = 0, n = 0;

	cJSON_ArrayForEach(row, rows) {
		const char *name = str_field(row, "name");
		const char *kind = str_field(row, "default_kind");

		if (!name || !*name)
			return -EINVAL;
		if (kind && (!strcmp(kind, "MATERIALIZED") || !strcmp(kind, "ALIAS")))
			continue;
		if (n++)
			rc = buf_append_str(out, ", ");
		if (!rc)
			rc = ch_quote_ident(name, out);
		if (rc)
			return rc;
	}
	return n ? 0 : -EINVAL;
}

int rs_sql_attach_missing(const char *cols, const char *table,
			  const char *partition_id, const char *staging,
			  struct buf *out)
{
	int rc;

	if (!cols || !*cols)
		return -EINVAL;
	rc = buf_printf(out,
			"SELECT count() AS short FROM (SELECT h, count() AS c FROM "
			"(SELECT " RS_ROW_HASH " AS h FROM %s) GROUP BY h) "
			"ANY LEFT JOIN (SELECT h, count() AS have FROM "
			"(SELECT " RS_ROW_HASH " AS h FROM %s WHERE _partition_id = ",
			cols, staging, cols, table);
	if (!rc)
		rc = ch_quote(partition_id, out);
	if (!rc)
		rc = buf_printf(out, ") WHERE h IN (SELECT " RS_ROW_HASH " FROM %s) "
				"GROUP BY h) USING h WHERE have < c", cols, staging);
	return rc;
}

const char *rs_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid argument or table definition";
	case -EMSGSIZE: return "statement too long";
	case -EAGAIN: return "a shard is unreachable or not ready; paused";
	case -EPROTO: return "verification failed; paused";
	case -EIO: return "ClickHouse refused a statement";
	case -ENOSPC: return "not enough disk on a target shard";
	default: return "error";
	}
}
