/*
 * ClickHouse SQL text: quoting of literals and identifiers. No I/O; a module
 * of its own (chsql_dep) so that pure code (api/posthog, pkg/reshard's
 * planner) quotes SQL without linking pkg/clickhouse's HTTP client.
 * pkg/clickhouse/clickhouse.h includes this header. The caller owns out.
 */
#ifndef PHO_CHSQL_H
#define PHO_CHSQL_H

#include "pkg/buf/buf.h"

/* Quotes s as a ClickHouse string literal ('...', with \\ and \' escapes)
 * into out; NULL quotes as ''. Returns 0 or -EMSGSIZE, out unchanged on
 * failure. */
int ch_quote(const char *s, struct buf *out) __attribute__((warn_unused_result));

/* Quotes s as a ClickHouse identifier (`...`, with \\ and \` escapes) into
 * out. Returns 0 or -EMSGSIZE, out unchanged on failure. */
int ch_quote_ident(const char *s, struct buf *out) __attribute__((warn_unused_result));

#endif
