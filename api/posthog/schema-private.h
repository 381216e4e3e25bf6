/*
 * Internal to the ClickHouse schema derivation (schema.h): the tokens and
 * the taken-apart Kafka table and materialized view definitions that the
 * tokenizer (schema_lex.c), the DDL parsers (schema_parse.c), the edit
 * engine (schema_edit.c), the fingerprint (schema_fingerprint.c) and the
 * planner (schema_plan.c) share. Not for use outside api/posthog.
 */
#ifndef PHO_POSTHOG_SCHEMA_PRIVATE_H
#define PHO_POSTHOG_SCHEMA_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "pkg/buf/buf.h"
#include "schema.h"

enum tok_type { T_WORD, T_STRING, T_QIDENT, T_PUNCT };

struct tok {
	enum tok_type type;
	size_t off, len;
	int depth; /* bracket depth; an opening bracket and its match share it */
};

struct toks {
	const char *src;
	struct tok *v;
	size_t n, alloc;
};

#define NONE ((size_t)-1)

/* The connection settings of a Kafka table that differ per bucket. */
enum conn { C_BROKERS, C_TOPIC, C_GROUP, C_MAX };

/* The keys of the connection settings, by enum conn. */
extern const char *const ph_ddl_conn_keys[C_MAX];

/* A Kafka table definition taken apart. Ranges are token indexes [a, b). */
struct kafka_def {
	struct toks t;
	size_t name;            /* own name token */
	size_t cols;            /* '(' of the column list */
	size_t args_close;      /* ')' of Kafka(...), NONE without args */
	bool named;             /* Kafka(collection, ...) */
	size_t val[C_MAX][2];   /* value ranges, NONE when absent */
	size_t pair[C_MAX][2];  /* key = value ranges in named/SETTINGS form */
};

/* A materialized view definition taken apart. */
struct mv_def {
	struct toks t;
	size_t to;             /* first token of the target name */
	size_t to_end;
	size_t as;             /* the AS before the SELECT */
	size_t nrefs;
	size_t refs[16][2];    /* references to the source table */
	bool ref_from[16];     /* true: FROM/JOIN reference, else a qualifier */
};

/* A replacement of the source bytes [from, to). */
struct edit {
	size_t from, to;
	size_t seq; /* insertions at one offset keep their order */
	struct buf text;
};

struct edits {
	struct edit v[32];
	size_t n;
};

/* ---- the tokenizer (schema_lex.c) ------------------------------------ */

/* snprintf into err when err is not NULL. */
void ph_ddl_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Splits src into t (t->v malloc'd; the caller frees it also on failure).
 * Returns 0, -EMSGSIZE beyond PH_SCHEMA_MAX_DDL, or -EINVAL with the
 * reason in err for text it cannot take apart (unbalanced brackets, an
 * unterminated quote). */
int ph_ddl_tokenize(const char *src, struct toks *t, char *err, size_t errlen);

/* Token i is the keyword word (any case) / the punctuation c / a name
 * (bare or quoted) / the name name, quoted or not. */
bool ph_ddl_kw(const struct toks *t, size_t i, const char *word);
bool ph_ddl_punct(const struct toks *t, size_t i, char c);
bool ph_ddl_is_ident(const struct toks *t, size_t i);
bool ph_ddl_ident_eq(const struct toks *t, size_t i, const char *name);

/* Appends the content of a quoted token without its quotes and escapes,
 * or a word as it is, to out with buf_put (a failure stays in out->err;
 * a cap of PH_SCHEMA_MAX_DDL always holds a token of a definition). */
void ph_ddl_unquote(const struct toks *t, size_t i, struct buf *out);

/* The matching closing bracket of the opening one at i, or NONE. */
size_t ph_ddl_close_of(const struct toks *t, size_t i);

/* ---- the DDL parsers (schema_parse.c) --------------------------------- */

/* Takes apart a Kafka engine table / a materialized view reading source.
 * Returns 0 or -EINVAL with the reason in err; free with the _free
 * function also on failure. */
int ph_ddl_parse_kafka(const char *ddl, struct kafka_def *k, char *err,
		       size_t errlen);
int ph_ddl_parse_mv(const char *ddl, const char *source, struct mv_def *m,
		    char *err, size_t errlen);
void ph_ddl_kafka_def_free(struct kafka_def *k);
void ph_ddl_mv_def_free(struct mv_def *m);

/* ---- the edit engine (schema_edit.c) ---------------------------------- */

/* Appends db.name, each part bare when it is a plain name. Returns 0 or
 * -EMSGSIZE. */
int ph_ddl_put_qname(struct buf *out, const char *db, const char *name);

/* Parses a Kafka table and the view reading it; db gets the table's
 * database. Returns as ph_ddl_parse_kafka; on success both are the
 * caller's to free, on failure neither holds anything. */
int ph_ddl_parse_pair(const char *kafka, const char *mv, struct kafka_def *k,
		      struct mv_def *m, struct buf *db, char *err, size_t errlen);

#endif
