#include "jsonyaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

/* ---- parsing ------------------------------------------------------------ */

struct parse {
	yaml_parser_t parser;
	yaml_event_t event;
	char *err;
	size_t errlen;
	bool failed;
};

static void perr(struct parse *p, const yaml_mark_t *mark, const char *what)
{
	if (p->failed)
		return;
	p->failed = true;
	snprintf(p->err, p->errlen, "line %zu, column %zu: %s",
		 mark->line + 1, mark->column + 1, what);
}

static int next(struct parse *p)
{
	yaml_event_delete(&p->event);
	if (!yaml_parser_parse(&p->parser, &p->event)) {
		perr(p, &p->parser.problem_mark,
		     p->parser.problem ? p->parser.problem : "invalid YAML");
		memset(&p->event, 0, sizeof(p->event));
		return -EINVAL;
	}
	return 0;
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Integers as YAML 1.1 writes them: decimal, 0x hex, 0o or 0 octal. */
static bool resolve_int(const char *s, double *out)
{
	const char *digits = s;
	char *end;
	int base = 10;
	long long v;

	if (*digits == '+' || *digits == '-')
		digits++;
	if (!*digits)
		return false;
	if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
		base = 16;
	} else if (digits[0] == '0' && digits[1] == 'o') {
		base = 8;
		digits += 2;
	} else if (digits[0] == '0' && digits[1]) {
		base = 8;
	}
	for (const char *c = digits + (base == 16 ? 2 : 0); *c; c++) {
		bool ok = base == 16 ? strchr("0123456789abcdefABCDEF", *c) != NULL
				     : (*c >= '0' && *c <= (base == 8 ? '7' : '9'));
		if (!ok)
			return false;
	}
	errno = 0;
	v = strtoll(digits, &end, base);
	if (errno || *end)
		return false;
	*out = (double)(s[0] == '-' ? -v : v);
	return true;
}

static bool resolve_float(const char *s, double *out)
{
	static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf",
					  "+.Inf", "+.INF", NULL};
	static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
	static const char *const nan_[] = {".nan", ".NaN", ".NAN", NULL};
	const char *c = s;
	bool digit = false;
	char *end;

	if (is_one_of(s, inf) || is_one_of(s, ninf) || is_one_of(s, nan_))
		return false; /* JSON has no such numbers: keep them strings */
	if (*c == '+' || *c == '-')
		c++;
	for (; *c; c++) {
		if (*c >= '0' && *c <= '9')
			digit = true;
		else if (!strchr(".eE+-", *c))
			return false;
	}
	if (!digit)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out);
}

/* The JSON value a plain scalar stands for, as sigs.k8s.io/yaml reads it. */
static cJSON *resolve_plain(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
					    "YES", "on", "On", "ON", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "no",
					     "No", "NO", "off", "Off", "OFF", NULL};
	double d;

	if (is_one_of(s, nulls))
		return cJSON_CreateNull();
	if (is_one_of(s, trues))
		return cJSON_CreateTrue();
	if (is_one_of(s, falses))
		return cJSON_CreateFalse();
	if (resolve_int(s, &d) || resolve_float(s, &d))
		return cJSON_CreateNumber(d);
	return cJSON_CreateString(s);
}

static cJSON *scalar_value(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag && strcmp(tag, YAML_STR_TAG) == 0)
		return cJSON_CreateString(v);
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && !tag)
		return cJSON_CreateString(v);
	return resolve_plain(v);
}

static cJSON *parse_node(struct parse *p, int depth);

static cJSON *parse_mapping(struct parse *p, int depth)
{
	cJSON *obj = cJSON_CreateObject();

	for (;;) {
		cJSON *val;
		char *key;

		if (next(p) < 0)
			goto fail;
		if (p->event.type == YAML_MAPPING_END_EVENT)
			return obj;
		if (p->event.type != YAML_SCALAR_EVENT) {
			perr(p, &p->event.start_mark, "mapping keys must be scalars");
			goto fail;
		}
		key = strdup((const char *)p->event.data.scalar.value);
		if (!key)
			abort();
		if (next(p) < 0 || !(val = parse_node(p, depth + 1))) {
			free(key);
			goto fail;
		}
		/* A repeated key: the last one wins, as in sigs.k8s.io/yaml's
		 * non-strict mode. */
		cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
		cJSON_AddItemToObject(obj, key, val);
		free(key);
	}
fail:
	cJSON_Delete(obj);
	return NULL;
}

static cJSON *parse_sequence(struct parse *p, int depth)
{
	cJSON *arr = cJSON_CreateArray();

	for (;;) {
		cJSON *val;

		if (next(p) < 0)
			goto fail;
		if (p->event.type == YAML_SEQUENCE_END_EVENT)
			return arr;
		if (!(val = parse_node(p, depth + 1)))
			goto fail;
		cJSON_AddItemToArray(arr, val);
	}
fail:
	cJSON_Delete(arr);
	return NULL;
}

/* Parses the node whose first event is p->event. */
static cJSON *parse_node(struct parse *p, int depth)
{
	if (depth > JY_MAX_DEPTH) {
		perr(p, &p->event.start_mark, "nesting too deep");
		return NULL;
	}
	switch (p->event.type) {
	case YAML_SCALAR_EVENT:
		if (p->event.data.scalar.anchor)
			break;
		return scalar_value(&p->event);
	case YAML_MAPPING_START_EVENT:
		if (p->event.data.mapping_start.anchor)
			break;
		return parse_mapping(p, depth);
	case YAML_SEQUENCE_START_EVENT:
		if (p->event.data.sequence_start.anchor)
			break;
		return parse_sequence(p, depth);
	case YAML_ALIAS_EVENT:
		break;
	default:
		perr(p, &p->event.start_mark, "unexpected YAML event");
		return NULL;
	}
	perr(p, &p->event.start_mark, "anchors and aliases are not supported");
	return NULL;
}

/* Reads one document after its DOCUMENT-START; NULL on error. An empty
 * document gives JSON null. */
static cJSON *parse_document(struct parse *p)
{
	cJSON *doc;

	if (next(p) < 0)
		return NULL;
	if (p->event.type == YAML_DOCUMENT_END_EVENT)
		return cJSON_CreateNull();
	doc = parse_node(p, 0);
	if (doc && (next(p) < 0 || p->event.type != YAML_DOCUMENT_END_EVENT)) {
		perr(p, &p->event.start_mark, "expected the end of the document");
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

int jy_parse_stream(const char *text, size_t len, cJSON **out, char *err,
		    size_t errlen)
{
	struct parse p = {.err = err, .errlen = errlen};
	cJSON *docs = cJSON_CreateArray();
	int r = -EINVAL;

	if (errlen)
		err[0] = '\0';
	yaml_parser_initialize(&p.parser);
	yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
	if (next(&p) < 0 || p.event.type != YAML_STREAM_START_EVENT)
		goto out;
	for (;;) {
		cJSON *doc;

		if (next(&p) < 0)
			goto out;
		if (p.event.type == YAML_STREAM_END_EVENT)
			break;
		if (!(doc = parse_document(&p)))
			goto out;
		if (cJSON_IsNull(doc))
			cJSON_Delete(doc);
		else
			cJSON_AddItemToArray(docs, doc);
	}
	*out = docs;
	docs = NULL;
	r = 0;
out:
	yaml_event_delete(&p.event);
	yaml_parser_delete(&p.parser);
	cJSON_Delete(docs);
	return r;
}

int jy_parse(const char *text, size_t len, cJSON **out, char *err,
	     size_t errlen)
{
	cJSON *docs, *doc;
	int r = jy_parse_stream(text, len, &docs, err, errlen);

	if (r < 0)
		return r;
	if (cJSON_GetArraySize(docs) > 1) {
		snprintf(err, errlen, "expected one YAML document, found %d",
			 cJSON_GetArraySize(docs));
		cJSON_Delete(docs);
		return -EINVAL;
	}
	doc = cJSON_DetachItemFromArray(docs, 0);
	cJSON_Delete(docs);
	*out = doc ? doc : cJSON_CreateNull();
	return 0;
}

/* ---- emitting ----------------------------------------------------------- */

/*
 * The emitter writes block style by hand rather than through libyaml's
 * emitter, because the choice that matters (quoting a string that would
 * otherwise read back as a number, boolean or null) needs the resolver
 * above, which libyaml's emitter does not know.
 */

static bool plain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr(" _-./=+,()$:;<>^~", c);
}

static bool plain_safe(const char *s)
{
	size_t n = strlen(s);
	cJSON *as;
	bool is_string;

	if (!n || s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':')
		return false;
	if (strchr("-:,;<>=^~$", s[0]) && !(s[0] == '-' && n > 1 && s[1] != ' '))
		return false;
	for (const char *c = s; *c; c++)
		if (!plain_char(*c) || (c[0] == ':' && c[1] == ' '))
			return false;
	as = resolve_plain(s);
	is_string = cJSON_IsString(as);
	cJSON_Delete(as);
	return is_string;
}

static int emit_quoted(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	int r = buf_append(out, "\"", 1);

	for (; *s && !r; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			r = buf_append(out, e, 2);
		} else if (c == '\n') {
			r = buf_append(out, "\\n", 2);
		} else if (c == '\t') {
			r = buf_append(out, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			r = buf_append(out, esc, 6);
		} else {
			r = buf_append(out, (const char *)&c, 1);
		}
	}
	return r ? r : buf_append(out, "\"", 1);
}

static int indent(struct buf *out, int n)
{
	static const char spaces[] = "                                ";
	int r = 0;

	while (n > 0 && !r) {
		int k = n < 32 ? n : 32;
		r = buf_append(out, spaces, (size_t)k);
		n -= k;
	}
	return r;
}

/* A literal block fits text with newlines, no control characters, no
 * leading space on its first line, and at most one trailing newline. */
static bool literal_fits(const char *s)
{
	size_t n = strlen(s);

	if (!strchr(s, '\n') || s[0] == ' ' || s[0] == '\n')
		return false;
	if (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\n')
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\n')
			return false;
	return true;
}

static int emit_literal(struct buf *out, const char *s, int depth)
{
	size_t n = strlen(s);
	int r = buf_append_str(out, s[n - 1] == '\n' ? "|\n" : "|-\n");

	while (*s && !r) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		if (len)
			r = indent(out, depth * 2);
		if (!r)
			r = buf_append(out, s, len);
		if (!r)
			r = buf_append(out, "\n", 1);
		s += len + (nl ? 1 : 0);
	}
	return r;
}

static int emit_string(struct buf *out, const char *s, int depth)
{
	if (plain_safe(s))
		return buf_append_str(out, s);
	if (literal_fits(s))
		return emit_literal(out, s, depth);
	return emit_quoted(out, s);
}

static int emit_number(struct buf *out, double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return buf_printf(out, "%lld", (long long)v);
	return buf_printf(out, "%.17g", v);
}

static bool is_collection(const cJSON *v)
{
	return (cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child;
}

static int emit_node(struct buf *out, const cJSON *v, int depth);

/* Writes a scalar (or an empty collection) after "key: " or "- ". Strings
 * in literal style end their own line. */
static int emit_inline(struct buf *out, const cJSON *v, int depth)
{
	int r;

	if (cJSON_IsString(v)) {
		r = emit_string(out, v->valuestring, depth);
		if (!r && literal_fits(v->valuestring) && !plain_safe(v->valuestring))
			return 0;
	} else if (cJSON_IsNumber(v)) {
		r = emit_number(out, v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		r = buf_append_str(out, cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsObject(v)) {
		r = buf_append_str(out, "{}");
	} else if (cJSON_IsArray(v)) {
		r = buf_append_str(out, "[]");
	} else {
		r = buf_append_str(out, "null");
	}
	return r ? r : buf_append(out, "\n", 1);
}

static int emit_object(struct buf *out, const cJSON *v, int depth, bool first_inline)
{
	int r = 0;

	for (const cJSON *c = v->child; c && !r; c = c->next) {
		if (!(first_inline && c == v->child))
			r = indent(out, depth * 2);
		if (!r)
			r = plain_safe(c->string) ? buf_append_str(out, c->string)
						  : emit_quoted(out, c->string);
		if (!r)
			r = buf_append_str(out, is_collection(c) ? ":\n" : ": ");
		if (!r)
			r = is_collection(c) ? emit_node(out, c, cJSON_IsArray(c) ? depth : depth + 1)
					     : emit_inline(out, c, depth + 1);
	}
	return r;
}

static int emit_array(struct buf *out, const cJSON *v, int depth)
{
	int r = 0;

	for (const cJSON *c = v->child; c && !r; c = c->next) {
		r = indent(out, depth * 2);
		if (!r)
			r = buf_append_str(out, "- ");
		if (r)
			break;
		if (cJSON_IsObject(c) && c->child)
			r = emit_object(out, c, depth + 1, true);
		else if (cJSON_IsArray(c) && c->child)
			r = buf_append_str(out, "\n") ? -EMSGSIZE
						      : emit_array(out, c, depth + 1);
		else
			r = emit_inline(out, c, depth + 1);
	}
	return r;
}

static int emit_node(struct buf *out, const cJSON *v, int depth)
{
	if (cJSON_IsObject(v) && v->child)
		return emit_object(out, v, depth, false);
	if (cJSON_IsArray(v) && v->child)
		return emit_array(out, v, depth);
	return emit_inline(out, v, depth);
}

int jy_emit(const cJSON *doc, int with_separator, struct buf *out)
{
	size_t mark = out->len;
	int r = 0;

	if (with_separator)
		r = buf_append_str(out, "---\n");
	if (!r)
		r = emit_node(out, doc, 0);
	if (r < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	return r;
}
