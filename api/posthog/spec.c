/*
 * The spec schema, walked the way the API server walks a structural
 * schema: defaulting (ph_normalize) and validation of types, enums, bounds,
 * patterns, lengths and item counts (ph_validate's first half). The schema
 * is the CRD's own (crd_schema.c), so render and the API server agree.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-private.h"

cJSON *ph_schema_parse(void)
{
	cJSON *s = cJSON_Parse(ph_crd_spec_schema);

	if (!s)
		abort(); /* generated text is broken or out of memory */
	return s;
}

void ph_problem(cJSON *problems, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *p;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p = PH_NN(cJSON_CreateObject());
	ph_add_str(p, "field", field);
	ph_add_str(p, "message", msg);
	ph_push(problems, p);
}

static const char *json_type_name(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "object";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	return "null";
}

static bool is_integral(const cJSON *v)
{
	double d = v->valuedouble;

	/* The range first: the conversion is undefined outside it. */
	return cJSON_IsNumber(v) && util_fits_int64(d) && d == (double)(int64_t)d;
}

/* Whether value has the schema's type; int-or-string accepts both. */
static bool type_ok(const cJSON *schema, const cJSON *v)
{
	const char *t = util_json_get_str(schema, "type", NULL);

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		    schema, "x-kubernetes-int-or-string")))
		return cJSON_IsString(v) || is_integral(v);
	if (!t)
		return true;
	if (!strcmp(t, "object"))
		return cJSON_IsObject(v);
	if (!strcmp(t, "array"))
		return cJSON_IsArray(v);
	if (!strcmp(t, "string"))
		return cJSON_IsString(v);
	if (!strcmp(t, "integer"))
		return is_integral(v);
	if (!strcmp(t, "number"))
		return cJSON_IsNumber(v);
	if (!strcmp(t, "boolean"))
		return cJSON_IsBool(v);
	return true;
}

/* Characters (code points) in a UTF-8 string, as Kubernetes counts. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static void check_enum(const cJSON *schema, const cJSON *v, const char *path,
		       cJSON *problems)
{
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	const cJSON *e;
	char list[256] = "";
	size_t used = 0;

	if (!cJSON_IsArray(en))
		return;
	cJSON_ArrayForEach(e, en) {
		if (cJSON_Compare(e, v, true))
			return;
		if (cJSON_IsString(e) && used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used,
						 "%s\"%s\"", used ? ", " : "",
						 e->valuestring);
	}
	if (cJSON_IsString(v))
		ph_problem(problems, path, "must be one of %s (got \"%s\")",
			   list, v->valuestring);
	else
		ph_problem(problems, path, "must be one of %s", list);
}

static void check_string(const cJSON *schema, const cJSON *v,
			 const char *path, cJSON *problems)
{
	const char *pat = util_json_get_str(schema, "pattern", NULL);
	int64_t max = util_json_get_int(schema, "maxLength", -1);
	int64_t min = util_json_get_int(schema, "minLength", -1);
	size_t len = utf8_len(v->valuestring);
	regex_t re;

	if (max >= 0 && len > (size_t)max) {
		ph_problem(problems, path,
			   "must be at most %lld characters (got %zu)",
			   (long long)max, len);
		return;
	}
	if (min >= 0 && len < (size_t)min)
		ph_problem(problems, path,
			   "must be at least %lld characters (got %zu)",
			   (long long)min, len);
	if (!pat)
		return;
	/* Patterns in the CRD are written to mean the same in POSIX ERE and
	 * in the API server's regular expressions. */
	if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
		abort(); /* a broken pattern in the generated schema */
	if (regexec(&re, v->valuestring, 0, NULL, 0) != 0)
		ph_problem(problems, path, "must match %s (got \"%s\")", pat,
			   v->valuestring);
	regfree(&re);
}

static void check_number(const cJSON *schema, const cJSON *v,
			 const char *path, cJSON *problems)
{
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
	const char *fmt = util_json_get_str(schema, "format", NULL);
	double d = v->valuedouble;

	if (fmt && !strcmp(fmt, "int32") &&
	    (d > 2147483647.0 || d < -2147483648.0)) {
		ph_problem(problems, path, "must fit in 32 bits (got %.0f)", d);
		return;
	}
	if (cJSON_IsNumber(min) && d < min->valuedouble)
		ph_problem(problems, path, "must be at least %.0f (got %.0f)",
			   min->valuedouble, d);
	if (cJSON_IsNumber(max) && d > max->valuedouble)
		ph_problem(problems, path, "must be at most %.0f (got %.0f)",
			   max->valuedouble, d);
}

/* x-kubernetes-list-type map: no two items may share their key values. */
static void check_list_keys(const cJSON *schema, const cJSON *v,
			    const char *path, cJSON *problems)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(
		schema, "x-kubernetes-list-map-keys");
	const cJSON *a, *b, *k;
	int i = 0;

	if (!cJSON_IsArray(keys))
		return;
	cJSON_ArrayForEach(a, v) {
		int j = 0;

		cJSON_ArrayForEach(b, v) {
			bool same = true;

			if (j++ >= i)
				break;
			cJSON_ArrayForEach(k, keys) {
				const cJSON *x = cJSON_GetObjectItemCaseSensitive(
					a, k->valuestring);
				const cJSON *y = cJSON_GetObjectItemCaseSensitive(
					b, k->valuestring);
				if (!x || !y || !cJSON_Compare(x, y, true))
					same = false;
			}
			if (same) {
				char *p = util_xasprintf("%s[%d]", path, i);
				ph_problem(problems, p,
					   "duplicate entry (same %s as item %d)",
					   keys->child->valuestring, j - 1);
				free(p);
				break;
			}
		}
		i++;
	}
}

static void check_array(const cJSON *schema, const cJSON *v, const char *path,
			cJSON *problems)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
	int64_t max = util_json_get_int(schema, "maxItems", -1);
	int64_t min = util_json_get_int(schema, "minItems", -1);
	int n = cJSON_GetArraySize(v), i = 0;
	const cJSON *e;

	if (max >= 0 && n > max) {
		ph_problem(problems, path,
			   "must have at most %lld items (got %d)",
			   (long long)max, n);
		return;
	}
	if (min >= 0 && n < min)
		ph_problem(problems, path,
			   "must have at least %lld items (got %d)",
			   (long long)min, n);
	check_list_keys(schema, v, path, problems);
	if (!items)
		return;
	cJSON_ArrayForEach(e, v) {
		char *p = util_xasprintf("%s[%d]", path, i++);
		ph_schema_check(items, e, p, problems);
		free(p);
	}
}

static void check_object(const cJSON *schema, const cJSON *v,
			 const char *path, cJSON *problems)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema,
							      "properties");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(
		schema, "additionalProperties");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
	bool keep = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		schema, "x-kubernetes-preserve-unknown-fields"));
	int64_t maxp = util_json_get_int(schema, "maxProperties", -1);
	const cJSON *e;

	if (maxp >= 0 && cJSON_GetArraySize(v) > maxp)
		ph_problem(problems, path,
			   "must have at most %lld entries (got %d)",
			   (long long)maxp, cJSON_GetArraySize(v));
	cJSON_ArrayForEach(e, req) {
		if (!cJSON_GetObjectItemCaseSensitive(v, e->valuestring)) {
			char *p = util_xasprintf("%s.%s", path, e->valuestring);
			ph_problem(problems, p, "is required");
			free(p);
		}
	}
	cJSON_ArrayForEach(e, v) {
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(props,
								    e->string);
		char *p = util_xasprintf("%s.%s", path, e->string);

		if (!sub && cJSON_IsObject(addl))
			sub = addl;
		if (sub)
			ph_schema_check(sub, e, p, problems);
		else if (!keep && props)
			ph_problem(problems, p, "unknown field");
		free(p);
	}
}

void ph_schema_check(const cJSON *schema, const cJSON *v, const char *path,
		     cJSON *problems)
{
	if (!type_ok(schema, v)) {
		const char *t = util_json_get_str(schema, "type", "integer or string");
		ph_problem(problems, path, "must be %s %s (got %s)",
			   t[0] == 'a' || t[0] == 'o' || t[0] == 'i' ? "an" : "a",
			   t, json_type_name(v));
		return;
	}
	check_enum(schema, v, path, problems);
	if (cJSON_IsString(v))
		check_string(schema, v, path, problems);
	else if (cJSON_IsNumber(v))
		check_number(schema, v, path, problems);
	else if (cJSON_IsArray(v))
		check_array(schema, v, path, problems);
	else if (cJSON_IsObject(v))
		check_object(schema, v, path, problems);
}

static void default_props(const cJSON *props, cJSON *v, bool managed)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, props) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "default");
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(v, p->string);

		if (!d && managed)
			d = cJSON_GetObjectItemCaseSensitive(p, "x-ph-default");
		if (d && (!cur || cJSON_IsNull(cur))) {
			cJSON_DeleteItemFromObjectCaseSensitive(v, p->string);
			ph_add_copy(v, p->string, d);
		}
	}
}

void ph_schema_default(const cJSON *schema, cJSON *v)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema,
							      "properties");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(
		schema, "additionalProperties");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
	cJSON *e;

	if (cJSON_IsArray(v) && cJSON_IsObject(items)) {
		cJSON_ArrayForEach(e, v)
			ph_schema_default(items, e);
		return;
	}
	if (!cJSON_IsObject(v))
		return;
	/* Managed-only defaults (x-ph-default) stay out of an object whose
	 * "external" is set: they would describe a deployment that does not
	 * exist, and the CRD's CEL rules forbid those fields there. */
	if (props)
		default_props(props, v,
			      !cJSON_GetObjectItemCaseSensitive(v, "external"));
	cJSON_ArrayForEach(e, v) {
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(props,
								    e->string);
		if (!sub && cJSON_IsObject(addl))
			sub = addl;
		if (sub)
			ph_schema_default(sub, e);
	}
}

static void default_image(cJSON *spec, const char *component,
			  const char *repo, const char *tag)
{
	cJSON *comp = cJSON_GetObjectItemCaseSensitive(spec, component);
	cJSON *img;

	if (!cJSON_IsObject(comp))
		return;
	img = cJSON_GetObjectItemCaseSensitive(comp, "image");
	if (!cJSON_IsObject(img)) {
		cJSON_DeleteItemFromObjectCaseSensitive(comp, "image");
		img = ph_add_obj(comp, "image");
	}
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(img, "repository")))
		ph_add_str(img, "repository", repo);
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(img, "tag")) && tag)
		ph_add_str(img, "tag", tag);
	if (!cJSON_GetObjectItemCaseSensitive(img, "pullPolicy"))
		ph_add_str(img, "pullPolicy", "IfNotPresent");
}

static void set_int_if_absent(cJSON *obj, const char *key, int64_t v)
{
	if (cJSON_IsObject(obj) && !cJSON_GetObjectItemCaseSensitive(obj, key))
		ph_add_int(obj, key, v);
}

static void set_str_if_absent(cJSON *obj, const char *key, const char *v)
{
	if (cJSON_IsObject(obj) && !cJSON_GetObjectItemCaseSensitive(obj, key))
		ph_add_str(obj, key, v);
}

static void default_list(cJSON *obj, const char *key, const char *const *list)
{
	cJSON *arr;

	if (!cJSON_IsObject(obj) || cJSON_GetObjectItemCaseSensitive(obj, key))
		return;
	arr = ph_add_arr(obj, key);
	for (; *list; list++)
		ph_push_str(arr, *list);
}

/* Defaults that depend on other fields, which a schema cannot express.
 * Images, commands, modes and routing come from the version matrix row
 * of spec.version (versions.c). */
static void derived_defaults(cJSON *spec)
{
	cJSON *kafka = cJSON_GetObjectItemCaseSensitive(spec, "kafka");
	cJSON *topics = cJSON_GetObjectItemCaseSensitive(kafka, "topics");
	cJSON *ps = cJSON_GetObjectItemCaseSensitive(spec, "pluginServer");
	const char *version = util_json_get_str(spec, "version", NULL);
	const struct ph_version *row = ph_version_or_fallback(version);
	bool prefix;
	int64_t rf;

	default_image(spec, "zookeeper", "zookeeper", "3.8.4");
	default_image(spec, "kafka", "apache/kafka", "3.8.1");
	default_image(spec, "clickhouse", "clickhouse/clickhouse-server",
		      row->clickhouse_tag);
	default_image(spec, "pluginServer", row->plugin_image,
		      row->plugin_tag ? row->plugin_tag : version);
	if (ph_is_external(spec, "kafka"))
		rf = 3;
	else
		rf = util_json_get_int(spec, "kafka.brokers", 3) < 3
			     ? util_json_get_int(spec, "kafka.brokers", 3) : 3;
	set_int_if_absent(topics, "replicationFactor", rf);
	rf = util_json_get_int(topics, "replicationFactor", rf);
	set_int_if_absent(topics, "minInsyncReplicas", rf > 1 ? rf - 1 : 1);
	default_list(ps, "command", row->plugin_command);
	set_str_if_absent(ps, "topicRouting",
			  row->routing == PH_ROUTING_KAFKA_PREFIX ? "KafkaPrefix" : "Env");
	prefix = !strcmp(util_json_get_str(spec, "pluginServer.topicRouting", "Env"),
			 "KafkaPrefix");
	/* A routing other than the row's is an expert override; the modes
	 * then follow the routing, as before the matrix. */
	if (prefix == (row->routing == PH_ROUTING_KAFKA_PREFIX)) {
		set_str_if_absent(cJSON_GetObjectItemCaseSensitive(ps, "ingestion"),
				  "mode", row->ingestion_mode);
		set_str_if_absent(cJSON_GetObjectItemCaseSensitive(ps, "async"),
				  "mode", row->async_mode);
	}
	set_str_if_absent(cJSON_GetObjectItemCaseSensitive(ps, "ingestion"),
			  "mode", prefix ? "ingestion" : "ingestion-v2");
	set_str_if_absent(cJSON_GetObjectItemCaseSensitive(ps, "async"), "mode",
			  prefix ? "async" : "cdp-legacy-on-event");
}

/* A managed component always has storage; an empty object lets the
 * schema's x-ph-default fill in the size. (The CRD cannot default it:
 * storage is forbidden beside external.) */
static void add_managed_storage(cJSON *spec)
{
	static const char *const comps[] = { "zookeeper", "kafka", "clickhouse" };
	size_t i;

	for (i = 0; i < 3; i++) {
		cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, comps[i]);

		if (!cJSON_IsObject(c) || ph_is_external(spec, comps[i]) ||
		    cJSON_GetObjectItemCaseSensitive(c, "storage"))
			continue;
		ph_add_obj(c, "storage");
	}
}

int ph_normalize(const cJSON *posthog, cJSON **spec_out)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(posthog, "spec");
	cJSON *schema, *copy;

	if (!cJSON_IsObject(spec))
		return -EINVAL;
	copy = PH_NN(cJSON_Duplicate(spec, true));
	add_managed_storage(copy);
	schema = ph_schema_parse();
	ph_schema_default(schema, copy);
	cJSON_Delete(schema);
	derived_defaults(copy);
	*spec_out = copy;
	return 0;
}
