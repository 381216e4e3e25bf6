/*
 * Which PostHog a ClickHouse database's bucket tables belong to.
 *
 * The bucket tables (kafka_events_json_N, events_json_mv_N) have fixed
 * names inside the database, so two PostHogs that point at one database
 * (two namespaces sharing an external ClickHouse) would take over, and
 * drop, each other's. ClickHouse 18.16 has no table comments, so the claim
 * is a table of its own: posthog_operator_owner, with no rows, whose column
 * defaults carry the owner's namespace and name. CREATE TABLE without IF
 * NOT EXISTS is atomic, so of two PostHogs claiming at once exactly one
 * wins; the claim is metadata, so it survives a server restart even with
 * the Memory engine.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pkg/chsql/chsql.h"
#include "schema.h"

static int restore(struct buf *out, size_t len, int r)
{
	if (r < 0) {
		out->len = len;
		if (out->data)
			out->data[len] = '\0';
	}
	return r;
}

int ph_schema_owner_query(const char *database, struct buf *out)
{
	size_t len;

	if (!database || !out)
		return -EINVAL;
	len = out->len;
	return restore(out, len,
		       buf_append_str(out, "SELECT name, default_expression FROM system.columns "
				      "WHERE database = ") ?:
		       ch_quote(database, out) ?:
		       buf_append_str(out, " AND table = '" PH_SCHEMA_OWNER_TABLE "' ORDER BY name"));
}

int ph_schema_owner_create(const char *database, const char *ns, const char *name,
			   struct buf *out)
{
	size_t len;

	if (!database || !ns || !name || !out)
		return -EINVAL;
	len = out->len;
	return restore(out, len,
		       buf_append_str(out, "CREATE TABLE ") ?: ch_quote_ident(database, out) ?:
		       buf_append_str(out, "." PH_SCHEMA_OWNER_TABLE " (name String DEFAULT ") ?:
		       ch_quote(name, out) ?:
		       buf_append_str(out, ", namespace String DEFAULT ") ?: ch_quote(ns, out) ?:
		       buf_append_str(out, ") ENGINE = Memory"));
}

int ph_schema_owner_drop(const char *database, struct buf *out)
{
	size_t len;

	if (!database || !out)
		return -EINVAL;
	len = out->len;
	return restore(out, len,
		       buf_append_str(out, "DROP TABLE IF EXISTS ") ?: ch_quote_ident(database, out) ?:
		       buf_append_str(out, "." PH_SCHEMA_OWNER_TABLE));
}

/* The default expression of column col in rows, or NULL. */
static const char *default_of(const cJSON *rows, const char *col)
{
	const cJSON *row;

	cJSON_ArrayForEach(row, rows) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(row, "name");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(row, "default_expression");

		if (cJSON_IsString(n) && cJSON_IsString(d) && !strcmp(n->valuestring, col))
			return d->valuestring;
	}
	return NULL;
}

int ph_schema_owner_match(const cJSON *rows, const char *ns, const char *name,
			  char *other, size_t othersz)
{
	const char *dn, *dns;
	struct buf wn, wns;
	bool ours;

	if (cJSON_GetArraySize(rows) == 0)
		return PH_OWNER_NONE;
	dn = default_of(rows, "name");
	dns = default_of(rows, "namespace");
	buf_init(&wn, 1024);
	buf_init(&wns, 1024);
	ours = dn && dns && ch_quote(name, &wn) == 0 && ch_quote(ns, &wns) == 0 &&
	       !strcmp(dn, buf_str(&wn)) && !strcmp(dns, buf_str(&wns));
	buf_free(&wn);
	buf_free(&wns);
	if (ours)
		return PH_OWNER_US;
	/* Shown as the server reports them (quoted literals), unparsed. */
	if (other && othersz)
		snprintf(other, othersz, "%s/%s", dns ? dns : "?", dn ? dn : "?");
	return PH_OWNER_OTHER;
}
