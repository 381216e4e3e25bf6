/*
 * The name and label rules are Kubernetes' own, from apimachinery's
 * pkg/util/validation/validation.go (IsDNS1123Label, IsDNS1035Label,
 * IsValidLabelValue, IsValidPortName) and, for Service names,
 * pkg/apis/core/validation (ValidateServiceName is a DNS-1035 label).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "invariants.h"

static const cJSON *get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

__attribute__((format(printf, 3, 4)))
static int violation(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* RFC 1123 label: 1..63 of [a-z0-9-], alphanumeric at both ends. */
static bool dns1123_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* RFC 1123 subdomain: dot-separated labels, at most 253 in all. */
static bool dns1123_subdomain(const char *s)
{
	char label[254];
	size_t n = s ? strlen(s) : 0, start = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (s[i] != '.' && s[i] != '\0')
			continue;
		if (i == start)
			return false;
		memcpy(label, s + start, i - start);
		label[i - start] = '\0';
		if (!dns1123_label(label))
			return false;
		start = i + 1;
	}
	return true;
}

/* Label value: empty, or up to 63 of [A-Za-z0-9-_.] with alphanumeric ends. */
static bool label_value(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return true;
	if (n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* True when every key of sel has the same value in labels. */
static bool selects(const cJSON *sel, const cJSON *labels)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, sel) {
		const char *have = str(labels, kv->string);

		if (!cJSON_IsString(kv) || !have || strcmp(have, kv->valuestring))
			return false;
	}
	return true;
}

static bool is_workload(const char *kind)
{
	return !strcmp(kind, "StatefulSet") || !strcmp(kind, "Deployment");
}

static const cJSON *pod_labels(const cJSON *obj)
{
	return get(get(get(obj, "spec", "template"), "metadata", NULL), "labels", NULL);
}

static int check_labels(const cJSON *labels, const char *what, char *msg, size_t msglen)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, labels)
		if (!cJSON_IsString(kv) || !label_value(kv->valuestring))
			return violation(msg, msglen, "%s: label %s has an invalid value", what,
					 kv->string);
	return 0;
}

/* Every name is a DNS-1123 subdomain (ValidateObjectMeta's default) and a
 * valid label value (a Job's pods carry it as job-name); Services and
 * StatefulSets (whose pod names are host names) need a label. */
static int check_name(const char *kind, const char *name, char *msg, size_t msglen)
{
	bool label_kind = !strcmp(kind, "Service") || !strcmp(kind, "StatefulSet");

	if (!dns1123_subdomain(name) || !label_value(name) || (label_kind && !dns1123_label(name)))
		return violation(msg, msglen, "%s \"%s\": name is not a DNS-1123 %s of at most 63",
				 kind, name ? name : "", label_kind ? "label" : "subdomain");
	if (!strcmp(kind, "Service") && !(name[0] >= 'a' && name[0] <= 'z'))
		return violation(msg, msglen, "Service %s: name is not a DNS-1035 label", name);
	if (!strcmp(kind, "StatefulSet") && strlen(name) > 52)
		return violation(msg, msglen, "StatefulSet %s: name longer than 52", name);
	return 0;
}

/* Names in one array of a pod spec (containers, volumes) are unique
 * DNS-1123 labels; the containers' port names are at most 15 long. */
static int check_pod_names(const cJSON *list, const char *what, const char *owner,
			   char *msg, size_t msglen)
{
	const cJSON *a, *b, *port;

	cJSON_ArrayForEach(a, list) {
		const char *n = str(a, "name");

		if (!dns1123_label(n))
			return violation(msg, msglen, "%s: %s name \"%s\" is not a DNS-1123 label",
					 owner, what, n ? n : "");
		for (b = a->next; b; b = b->next)
			if (str(b, "name") && !strcmp(n, str(b, "name")))
				return violation(msg, msglen, "%s: two %ss named %s", owner, what, n);
		cJSON_ArrayForEach(port, get(a, "ports", NULL)) {
			const char *pn = str(port, "name");

			if (pn && (strlen(pn) > 15 || !dns1123_label(pn)))
				return violation(msg, msglen, "%s: port name \"%s\" is not valid",
						 owner, pn);
		}
	}
	return 0;
}

static int check_pod(const cJSON *obj, const char *owner, char *msg, size_t msglen)
{
	const cJSON *ps = get(get(obj, "spec", "template"), "spec", NULL);
	int r;

	if (!ps)
		return 0;
	if ((r = check_pod_names(get(ps, "initContainers", NULL), "init container", owner, msg,
				 msglen)) < 0 ||
	    (r = check_pod_names(get(ps, "containers", NULL), "container", owner, msg, msglen)) < 0 ||
	    (r = check_pod_names(get(ps, "volumes", NULL), "volume", owner, msg, msglen)) < 0)
		return r;
	return check_labels(pod_labels(obj), owner, msg, msglen);
}

/* The objects of entries, each checked on its own. */
static int check_each(const cJSON *entries, const char *ns, char *msg, size_t msglen)
{
	const cJSON *e, *f;
	int r;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = get(e, "object", NULL), *meta = get(obj, "metadata", NULL);
		const char *kind = str(obj, "kind"), *name = str(meta, "name");

		if (!kind)
			return violation(msg, msglen, "an entry has no kind");
		if ((r = check_name(kind, name, msg, msglen)) < 0)
			return r;
		if (ns && (!str(meta, "namespace") || strcmp(str(meta, "namespace"), ns)))
			return violation(msg, msglen, "%s %s: not in namespace %s", kind, name, ns);
		if ((r = check_labels(get(meta, "labels", NULL), name, msg, msglen)) < 0 ||
		    (r = check_pod(obj, name, msg, msglen)) < 0)
			return r;
		for (f = e->next; f; f = f->next) {
			const cJSON *o2 = get(f, "object", NULL);

			if (str(o2, "kind") && !strcmp(str(o2, "kind"), kind) &&
			    str(get(o2, "metadata", NULL), "name") &&
			    !strcmp(str(get(o2, "metadata", NULL), "name"), name))
				return violation(msg, msglen, "two %ss named %s", kind, name);
		}
	}
	return 0;
}

/* The workload named so (any kind when kind is NULL), or NULL. */
static const cJSON *find(const cJSON *entries, const char *kind, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = get(e, "object", NULL);
		const char *k = str(obj, "kind"), *n = str(get(obj, "metadata", NULL), "name");

		if (k && n && name && !strcmp(n, name) && (kind ? !strcmp(k, kind) : is_workload(k)))
			return obj;
	}
	return NULL;
}

/* The label the StatefulSet controller puts on each of its pods, naming the
 * pod (<statefulset>-<ordinal>); kubernetes pkg/apis/apps/v1
 * StatefulSetPodNameLabel. */
#define POD_NAME_LABEL "statefulset.kubernetes.io/pod-name"

/* True when value names one of the StatefulSet's pods. */
static bool is_pod_of(const cJSON *sts, const char *value)
{
	const char *name = str(get(sts, "metadata", NULL), "name");
	const cJSON *reps = get(sts, "spec", "replicas");
	size_t n = name ? strlen(name) : 0;
	long ordinal = 0;
	const char *d;

	if (!name || strncmp(value, name, n) || value[n] != '-' || !value[n + 1])
		return false;
	for (d = value + n + 1; *d; d++) {
		if (*d < '0' || *d > '9' || ordinal > 100000)
			return false;
		ordinal = ordinal * 10 + (*d - '0');
	}
	return ordinal < (cJSON_IsNumber(reps) ? reps->valuedouble : 1);
}

/* True when sel matches pods of the workload obj: its template's labels,
 * plus the pod-name label of a StatefulSet's pods. */
static bool selects_pods_of(const cJSON *sel, const cJSON *obj)
{
	const cJSON *labels = pod_labels(obj), *kv;
	bool sts = !strcmp(str(obj, "kind"), "StatefulSet");

	cJSON_ArrayForEach(kv, sel) {
		const char *have = str(labels, kv->string);

		if (!cJSON_IsString(kv))
			return false;
		if (sts && !strcmp(kv->string, POD_NAME_LABEL) && !have) {
			if (!is_pod_of(obj, kv->valuestring))
				return false;
			continue;
		}
		if (!have || strcmp(have, kv->valuestring))
			return false;
	}
	return true;
}

/* True when sel matches the pods of some workload. */
static bool selects_some(const cJSON *entries, const cJSON *sel)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = get(e, "object", NULL);

		if (str(obj, "kind") && is_workload(str(obj, "kind")) && selects_pods_of(sel, obj))
			return true;
	}
	return false;
}

static int check_workload(const cJSON *entries, const cJSON *obj, const char *name,
			  char *msg, size_t msglen)
{
	const cJSON *sel = get(get(obj, "spec", "selector"), "matchLabels", NULL), *e;
	const char *svc = str(get(obj, "spec", NULL), "serviceName");

	if (cJSON_GetArraySize(sel) == 0 || !selects(sel, pod_labels(obj)))
		return violation(msg, msglen, "%s: selector does not match its pod labels", name);
	cJSON_ArrayForEach(e, entries) {
		const cJSON *o2 = get(e, "object", NULL);

		if (o2 != obj && str(o2, "kind") && is_workload(str(o2, "kind")) &&
		    selects(sel, pod_labels(o2)))
			return violation(msg, msglen, "%s: selector also matches the pods of %s", name,
					 str(get(o2, "metadata", NULL), "name"));
	}
	if (!strcmp(str(obj, "kind"), "StatefulSet") && !find(entries, "Service", svc))
		return violation(msg, msglen, "%s: serviceName %s is not a built Service", name,
				 svc ? svc : "(none)");
	return 0;
}

static int check_refs(const cJSON *entries, char *msg, size_t msglen)
{
	const cJSON *e;
	int r;

	cJSON_ArrayForEach(e, entries) {
		const cJSON *obj = get(e, "object", NULL);
		const char *kind = str(obj, "kind"), *name = str(get(obj, "metadata", NULL), "name");
		const cJSON *sel;

		if (is_workload(kind) && (r = check_workload(entries, obj, name, msg, msglen)) < 0)
			return r;
		/* An empty selector would select every pod of the namespace. */
		if (!strcmp(kind, "Service") && (sel = get(obj, "spec", "selector")) &&
		    (cJSON_GetArraySize(sel) == 0 || !selects_some(entries, sel)))
			return violation(msg, msglen, "Service %s selects no built pods", name);
		sel = get(get(obj, "spec", "selector"), "matchLabels", NULL);
		if (!strcmp(kind, "PodDisruptionBudget") &&
		    (cJSON_GetArraySize(sel) == 0 || !selects_some(entries, sel)))
			return violation(msg, msglen, "PodDisruptionBudget %s selects no built pods", name);
		if (!strcmp(kind, "HorizontalPodAutoscaler")) {
			const cJSON *ref = get(obj, "spec", "scaleTargetRef");

			if (!find(entries, str(ref, "kind"), str(ref, "name")))
				return violation(msg, msglen, "HPA %s targets %s %s, not built", name,
						 str(ref, "kind"), str(ref, "name"));
		}
	}
	return 0;
}

int phi_check(const cJSON *posthog, const cJSON *entries, char *msg, size_t msglen)
{
	const char *ns = str(get(posthog, "metadata", NULL), "namespace");
	int r;

	if (!cJSON_IsArray(entries))
		return violation(msg, msglen, "entries is not an array");
	if ((r = check_each(entries, ns, msg, msglen)) < 0)
		return r;
	return check_refs(entries, msg, msglen);
}
