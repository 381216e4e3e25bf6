/*
 * Secret redaction for `report`. Two layers: Secret objects in the bundle
 * keep their keys but lose every value (kp_redact_secret), and every file
 * of the bundle, logs included, is scanned for every value of every Secret
 * the plugin could read in the namespace, in each form it can take in text
 * (raw, base64 as in .data, JSON-escaped), which is replaced
 * (kp_redact). The second layer catches a password that a log line or an
 * Event message repeats.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "plugin.h"

#define MAX_VALUES 4096
#define MAX_VALUE_LEN (1u << 20)

struct value {
	char *data;
	size_t len;
};

struct kp_redactor {
	struct value *v;
	size_t n, alloc;
};

struct kp_redactor *kp_redactor_new(void)
{
	struct kp_redactor *r = util_xcalloc(1, sizeof(*r));

	return r;
}

void kp_redactor_free(struct kp_redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].data);
	free(r->v);
	free(r);
}

static int b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes standard base64 (padding optional) into a new buffer. */
static int b64_decode(const char *in, char **out, size_t *outlen)
{
	size_t n = strlen(in), o = 0;
	unsigned acc = 0;
	int bits = 0;
	char *d = util_xmalloc(n / 4 * 3 + 4);

	for (size_t i = 0; i < n; i++) {
		int v;

		if (in[i] == '=')
			break;
		if ((v = b64_digit((unsigned char)in[i])) < 0) {
			free(d);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*out = d;
	*outlen = o;
	return 0;
}

static int add_value(struct kp_redactor *r, const char *data, size_t len, unsigned *shorts)
{
	if (len < KP_REDACT_MIN) {
		if (shorts && len)
			(*shorts)++;
		return 0;
	}
	if (len > MAX_VALUE_LEN || r->n >= MAX_VALUES)
		return -E2BIG;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].len == len && !memcmp(r->v[i].data, data, len))
			return 0;
	if (r->n == r->alloc) {
		r->alloc = r->alloc ? r->alloc * 2 : 16;
		r->v = util_xrealloc(r->v, r->alloc * sizeof(*r->v));
	}
	r->v[r->n].data = util_xmalloc(len);
	memcpy(r->v[r->n].data, data, len);
	r->v[r->n++].len = len;
	return 0;
}

/* The value as it appears inside a JSON string, when that differs. */
static int add_json_form(struct kp_redactor *r, const char *data, size_t len)
{
	char *copy = util_xmalloc(len + 1), *json;
	cJSON *s;
	int rc = 0;

	memcpy(copy, data, len);
	copy[len] = '\0';
	s = cJSON_CreateString(copy);
	json = s ? cJSON_PrintUnformatted(s) : NULL;
	if (json && strlen(json) >= 2 && (strlen(json) - 2 != len || memcmp(json + 1, data, len)))
		rc = add_value(r, json + 1, strlen(json) - 2, NULL);
	free(json);
	cJSON_Delete(s);
	free(copy);
	return rc;
}

static int by_len_desc(const void *a, const void *b)
{
	size_t la = ((const struct value *)a)->len, lb = ((const struct value *)b)->len;

	return la < lb ? 1 : la > lb ? -1 : 0;
}

int kp_redactor_learn(struct kp_redactor *r, const cJSON *secret, unsigned *short_out)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(secret, "data");
	const cJSON *sd = cJSON_GetObjectItemCaseSensitive(secret, "stringData"), *v;
	int rc = 0;

	cJSON_ArrayForEach(v, data) {
		char *raw;
		size_t n;

		if (!cJSON_IsString(v))
			continue;
		rc = rc ? rc : add_value(r, v->valuestring, strlen(v->valuestring), NULL);
		if (b64_decode(v->valuestring, &raw, &n)) {
			rc = rc ? rc : -EINVAL;
			continue;
		}
		rc = rc ? rc : add_value(r, raw, n, short_out);
		if (n >= KP_REDACT_MIN)
			rc = rc ? rc : add_json_form(r, raw, n);
		free(raw);
	}
	cJSON_ArrayForEach(v, sd) {
		if (!cJSON_IsString(v))
			continue;
		rc = rc ? rc : add_value(r, v->valuestring, strlen(v->valuestring), short_out);
		if (strlen(v->valuestring) >= KP_REDACT_MIN)
			rc = rc ? rc : add_json_form(r, v->valuestring, strlen(v->valuestring));
	}
	/* Longest first, so that a value containing another goes whole. */
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(*r->v), by_len_desc);
	return rc;
}

static void redact_map(cJSON *map)
{
	cJSON *v;

	cJSON_ArrayForEach(v, map) {
		char text[48];
		size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;

		if (!strcmp(map->string ? map->string : "", "data"))
			n = n / 4 * 3; /* about the decoded size */
		snprintf(text, sizeof(text), "<redacted %zu bytes>", n);
		if (cJSON_IsString(v)) {
			cJSON_SetValuestring(v, text);
		} else { /* not a Secret's shape: keep the key, drop the value */
			cJSON_free(v->valuestring);
			v->valuestring = NULL;
			cJSON_Delete(v->child);
			v->child = NULL;
			v->type = cJSON_NULL;
		}
	}
}

void kp_redact_secret(cJSON *secret)
{
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(secret, "metadata"), "annotations");

	redact_map(cJSON_GetObjectItemCaseSensitive(secret, "data"));
	redact_map(cJSON_GetObjectItemCaseSensitive(secret, "stringData"));
	cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubectl.kubernetes.io/last-applied-configuration");
	cJSON_DeleteItemFromObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(secret, "metadata"), "managedFields");
}

long kp_redact(const struct kp_redactor *r, struct buf *b)
{
	static const char mark[] = "<redacted>";
	long total = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct value *v = &r->v[i];
		struct buf nb;
		const char *p = b->data, *end = b->data + b->len, *hit;

		if (!b->len || !memmem(b->data, b->len, v->data, v->len))
			continue;
		buf_init(&nb, b->cap);
		while ((hit = memmem(p, (size_t)(end - p), v->data, v->len))) {
			if (buf_append(&nb, p, (size_t)(hit - p)) || buf_append_str(&nb, mark)) {
				buf_free(&nb);
				return -EMSGSIZE;
			}
			total++;
			p = hit + v->len;
		}
		if (buf_append(&nb, p, (size_t)(end - p))) {
			buf_free(&nb);
			return -EMSGSIZE;
		}
		buf_free(b);
		*b = nb;
	}
	return total;
}
