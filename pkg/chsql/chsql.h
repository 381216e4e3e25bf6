/*
 * ClickHouse SQL quoting, the text half of pkg/clickhouse: no I/O, built as
 * its own library (clickhouse_quote_dep) so that pure code can quote SQL
 * without linking the HTTP client. clickhouse.h includes this header.
 */
#ifndef PHO_CLICKHOUSE_QUOTE_H
#define PHO_CLICKHOUSE_QUOTE_H

#include "pkg/buf/buf.h"

/* Quotes s as a ClickHouse string literal ('...', with \\ and \' escapes)
 * into out; NULL quotes as ''. Returns 0 or -EMSGSIZE, out unchanged on
 * failure. */
int ch_quote(const char *s, struct buf *out) __attribute__((warn_unused_result));

/* Quotes s as a ClickHouse identifier (`...`, with \\ and \` escapes) into
 * out. Returns 0 or -EMSGSIZE, out unchanged on failure. */
int ch_quote_ident(const char *s, struct buf *out) __attribute__((warn_unused_result));

#endif
