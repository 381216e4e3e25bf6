/* Dotted-path lookups and the text helpers the printers share. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pkg/util/util.h"
#include "plugin-private.h"

/* The path lookups are pkg/util's; these names keep the printers short. */
const cJSON *kp_get(const cJSON *obj, const char *path)
{
	return util_json_get(obj, path);
}

const char *kp_str(const cJSON *obj, const char *path)
{
	return util_json_get_str(obj, path, NULL);
}

int kp_paint(struct buf *out, bool color, const char *code, const char *s)
{
	if (!color || !code)
		return buf_append_str(out, s);
	return buf_printf(out, "\033[%sm%s\033[0m", code, s);
}

const char *kp_state_color(const char *state)
{
	static const char *const good[] = {"Ready", "True", "true", "Completed", "Succeeded", "Normal", NULL};
	static const char *const bad[] = {"Failed", "False", "false", "Degraded", "Warning", "Error", NULL};

	if (!state)
		return KP_DIM;
	for (int i = 0; good[i]; i++)
		if (!strcmp(state, good[i]))
			return KP_GREEN;
	for (int i = 0; bad[i]; i++)
		if (!strcmp(state, bad[i]))
			return KP_RED;
	return KP_YELLOW;
}

void kp_scalar(const cJSON *v, char *out, size_t outlen)
{
	if (cJSON_IsString(v))
		snprintf(out, outlen, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsNumber(v) && util_fits_int64(v->valuedouble) &&
		 v->valuedouble == (double)(long long)v->valuedouble)
		snprintf(out, outlen, "%lld", (long long)v->valuedouble);
	else if (cJSON_IsNumber(v))
		snprintf(out, outlen, "%g", v->valuedouble);
	else
		snprintf(out, outlen, "-");
}

int kp_fields_text(const cJSON *obj, const char *indent, struct buf *out)
{
	const cJSON *f;
	char v[512];
	int r = 0;

	cJSON_ArrayForEach(f, obj) {
		if (cJSON_IsObject(f) || cJSON_IsArray(f) || !f->string)
			continue;
		kp_scalar(f, v, sizeof(v));
		r = r ? r : buf_printf(out, "%s%s: %s\n", indent, f->string, v);
	}
	return r;
}

void kp_copy_or_null(cJSON *into, const char *key, const cJSON *from, const char *path)
{
	const cJSON *v = kp_get(from, path);

	cJSON_AddItemToObject(into, key, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

long long kp_num(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || !(v->valuedouble > -9e15 && v->valuedouble < 9e15))
		return 0;
	return (long long)v->valuedouble;
}
