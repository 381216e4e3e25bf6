/*
 * clickhouse internals shared with the unit tests; not part of the API.
 */
#ifndef PHO_CLICKHOUSE_PRIVATE_H
#define PHO_CLICKHOUSE_PRIVATE_H

#include <stddef.h>

#include "clickhouse.h"

/* Builds "/?database=...&default_format=JSON" (either part optional) into
 * out, percent-encoding the database name. Returns 0 or -EMSGSIZE. */
int ch_path_query(const char *database, bool json, struct buf *out);

/* Maps an HTTP status to 0 or a negative errno: 2xx -> 0, 401/403 ->
 * -EACCES, anything else -> -EIO. */
int ch_status_errno(int http_code);

/*
 * Copies the server's exception text from an answer body into err: from
 * "Code: " (the last occurrence, since an exception can follow streamed
 * rows) to the end, trimmed; the whole trimmed body when there is none.
 * Returns true when the body holds a ClickHouse exception.
 */
bool ch_extract_exception(const char *body, size_t len, char *err,
			  size_t errlen);

/* Parses a FORMAT JSON answer and detaches its "data" array into *rows.
 * Returns 0, or -EBADMSG (with a message in err) for anything else. */
int ch_parse_rows(const char *body, size_t len, cJSON **rows, char *err,
		  size_t errlen);

#endif
