/* util: allocation that aborts, FNV-1a, cJSON getters (see util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Out-of-memory on a small internal allocation is not recoverable in a
 * useful way; say so on stderr (without allocating) and let the pod
 * restart. */
static void oom(void)
{
	static const char msg[] = "posthog-operator: out of memory\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)r; /* nothing more to do if stderr is gone too */
	abort();
}

void *util_nn(void *p)
{
	if (!p)
		oom();
	return p;
}

void *util_xmalloc(size_t n)
{
	return util_nn(malloc(n ? n : 1));
}

void *util_xcalloc(size_t n, size_t size)
{
	return util_nn(calloc(n ? n : 1, size ? size : 1));
}

void *util_xrealloc(void *p, size_t n)
{
	return util_nn(realloc(p, n ? n : 1));
}

char *util_xstrdup(const char *s)
{
	return s ? util_xstrndup(s, strlen(s)) : NULL;
}

char *util_xstrndup(const char *s, size_t n)
{
	char *p = util_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *util_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

uint64_t util_fnv1a64_add(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t util_fnv1a64(const void *data, size_t len)
{
	return util_fnv1a64_add(UTIL_FNV1A64_BASIS, data, len);
}

uint64_t util_fnv1a64_str(const char *s)
{
	return util_fnv1a64(s, strlen(s));
}

const char *util_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double util_json_num(const cJSON *obj, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const cJSON *util_json_get(const cJSON *obj, const char *path)
{
	char key[128];

	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (!cJSON_IsObject(obj) || n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

const char *util_json_get_str(const cJSON *obj, const char *path, const char *def)
{
	const cJSON *v = util_json_get(obj, path);

	return cJSON_IsString(v) ? v->valuestring : def;
}

bool util_fits_int64(double d)
{
	return d >= -9.2e18 && d <= 9.2e18;
}

int64_t util_json_get_int(const cJSON *obj, const char *path, int64_t def)
{
	const cJSON *v = util_json_get(obj, path);

	return cJSON_IsNumber(v) && util_fits_int64(v->valuedouble) ? (int64_t)v->valuedouble : def;
}

bool util_json_get_bool(const cJSON *obj, const char *path, bool def)
{
	const cJSON *v = util_json_get(obj, path);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}
