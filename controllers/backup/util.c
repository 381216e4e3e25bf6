/*
 * backup: names, keys, and reading the Kafka engine's arguments out of a
 * CREATE TABLE.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backup-private.h"

void bk_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int bk_escape_file_name(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char esc[3];
	int r = 0;

	/* ClickHouse's escapeForFileName (src/Common/escapeForFileName.cpp)
	 * keeps word characters and writes every other byte as %XX. */
	for (p = (const unsigned char *)s; *p && r == 0; p++) {
		if (isalnum(*p) || *p == '_') {
			r = buf_append(out, p, 1);
		} else {
			esc[0] = '%';
			esc[1] = hex[*p >> 4];
			esc[2] = hex[*p & 15];
			r = buf_append(out, esc, 3);
		}
	}
	return r;
}

/* ClickHouse names a column's files after the column, escaped as
 * escapeForFileName escapes it ("$group_0" -> "%24group_0.bin"): a '%' is
 * followed by two hex digits. */
bool bk_valid_file_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n == 0 || n > max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
				return false;
			i += 2;
		} else if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
			return false;
		}
	}
	return true;
}

bool bk_valid_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0, i;

	if (n == 0 || n > max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

int bk_parse_duration(const char *s, int64_t *out)
{
	int64_t v = 0, mul;
	size_t i, n = s ? strlen(s) : 0;

	if (n < 2 || n > 12)
		return -EINVAL;
	for (i = 0; i + 1 < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	switch (s[n - 1]) {
	case 's': mul = 1; break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

bool bk_is_mergetree(const char *engine)
{
	return engine && strstr(engine, "MergeTree") != NULL;
}

int bk_engine_stage(const char *engine)
{
	if (engine && !strcmp(engine, "Kafka"))
		return 1;
	if (engine && !strcmp(engine, "MaterializedView"))
		return 2;
	return 0;
}

/* Copies the quoted string literal starting at s[*i] == '\'' into out,
 * undoing backslash escapes; moves *i past it. */
static int read_literal(const char *s, size_t *i, char *out, size_t outlen)
{
	size_t o = 0;

	if (s[*i] != '\'')
		return -EINVAL;
	for ((*i)++; s[*i] && s[*i] != '\''; (*i)++) {
		if (s[*i] == '\\' && s[*i + 1])
			(*i)++;
		if (o + 1 >= outlen)
			return -EMSGSIZE;
		out[o++] = s[*i];
	}
	if (s[*i] != '\'')
		return -EINVAL;
	(*i)++;
	out[o] = '\0';
	return 0;
}

static void skip_space(const char *s, size_t *i)
{
	while (s[*i] && isspace((unsigned char)s[*i]))
		(*i)++;
}

/* SETTINGS name = 'value' anywhere after the engine. */
static void setting(const char *ddl, const char *name, char *out, size_t outlen)
{
	const char *p = ddl;
	size_t n = strlen(name), i;

	while ((p = strstr(p, name)) != NULL) {
		i = (size_t)(p - ddl) + n;
		skip_space(ddl, &i);
		if (ddl[i] == '=') {
			i++;
			skip_space(ddl, &i);
			if (read_literal(ddl, &i, out, outlen) == 0)
				return;
		}
		p += n;
	}
}

int bk_parse_kafka_ddl(const char *ddl, struct bk_kafka_args *out)
{
	char *fields[3] = { out->brokers, out->topics, out->group };
	size_t sizes[3] = { sizeof(out->brokers), sizeof(out->topics), sizeof(out->group) };
	const char *p = strstr(ddl, "ENGINE = Kafka(");
	size_t i, k;

	memset(out, 0, sizeof(*out));
	if (p) {
		/* The form of 18.16's documentation, and of PostHog's schema:
		 * Kafka('brokers', 'topics', 'group', 'format'). */
		i = (size_t)(p - ddl) + strlen("ENGINE = Kafka(");
		for (k = 0; k < 3; k++) {
			skip_space(ddl, &i);
			if (ddl[i] != '\'' || read_literal(ddl, &i, fields[k], sizes[k]) < 0)
				break;
			skip_space(ddl, &i);
			if (ddl[i] != ',')
				break;
			i++;
		}
	}
	if (!out->brokers[0])
		setting(ddl, "kafka_broker_list", out->brokers, sizeof(out->brokers));
	if (!out->topics[0])
		setting(ddl, "kafka_topic_list", out->topics, sizeof(out->topics));
	if (!out->group[0])
		setting(ddl, "kafka_group_name", out->group, sizeof(out->group));
	return out->topics[0] && out->group[0] ? 0 : -EINVAL;
}

int bk_manifest_key(const struct bk_target *t, const char *name, struct buf *out)
{
	return buf_printf(out, "%s%sbackups/%s/shard-%s.json", t->prefix,
			  t->prefix[0] ? "/" : "", name, t->shard);
}

int bk_part_prefix(const struct bk_target *t, const char *table,
		   const char *sum, struct buf *out)
{
	int r = buf_printf(out, "%s%sparts/%s/", t->prefix,
			   t->prefix[0] ? "/" : "", t->shard);

	if (r == 0)
		r = bk_escape_file_name(t->database, out);
	if (r == 0)
		r = buf_append_str(out, "/");
	if (r == 0)
		r = bk_escape_file_name(table, out);
	if (r == 0)
		r = buf_printf(out, "/%s/", sum);
	return r;
}

int bk_read_manifest(const struct bk_target *t, const char *name,
		     cJSON **out, char *err, size_t errlen)
{
	struct buf key, body;
	cJSON *m;
	int r;

	buf_init(&key, BK_MAX_PATH);
	buf_init(&body, BK_MAX_MANIFEST);
	r = bk_manifest_key(t, name, &key);
	if (r == 0)
		r = s3_get(t->s3, buf_str(&key), &body, err, errlen);
	if (r == -ENOENT)
		bk_set_err(err, errlen, "backup %s of shard %s has no manifest: it is incomplete or does not exist",
			   name, t->shard);
	if (r == 0) {
		m = cJSON_ParseWithLength(buf_str(&body), body.len);
		if (!m || !cJSON_IsArray(cJSON_GetObjectItem(m, "tables"))) {
			cJSON_Delete(m);
			bk_set_err(err, errlen, "manifest %s: not a backup manifest", buf_str(&key));
			r = -EBADMSG;
		} else {
			*out = m;
		}
	}
	buf_free(&key);
	buf_free(&body);
	return r;
}

const char *bk_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EEXIST: return "a backup of that name exists, or a table to restore exists";
	case -ENOENT: return "no such complete backup";
	case -EACCES: return "access refused";
	case -EBADMSG: return "corrupt data (checksum or manifest)";
	case -EINVAL: return "invalid argument";
	default: return "backup failed";
	}
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void bk_remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bk_path_join(char *out, size_t n, const char *dir, const char *name)
{
	int w = snprintf(out, n, "%s/%s", dir, name);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}
