/*
 * `report NAME`: a support bundle, one .tar.gz holding the PostHog, its
 * children (every object labelled app.kubernetes.io/instance=NAME of the
 * kinds the operator creates), the Secrets the PostHog names or owns with
 * their values replaced, the namespace's Events, the backup resources,
 * the operator's logs, and manifest.json saying what was collected and what
 * could not be. Before any file goes into the archive, every value of every
 * Secret the plugin could read in the namespace is replaced (redact.c), so
 * a password echoed by a log line or an Event leaves too. A failure to read
 * one piece is recorded in the manifest; the bundle is still written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkg/util/util.h"
#include "main-private.h"

#define PREFIX "posthog-report/"

struct report {
	struct kp_ctx *x;
	struct kp_tar *tar;
	struct kp_redactor *red;
	cJSON *files, *errors;
	long redactions;
	unsigned secrets; /* Secrets whose values are searched for */
	time_t now;
};

static const struct {
	const char *api_version, *kind;
} child_kinds[] = {
	{"apps/v1", "StatefulSet"}, {"apps/v1", "Deployment"}, {"batch/v1", "Job"},
	{"v1", "Service"}, {"v1", "ConfigMap"}, {"v1", "Pod"}, {"v1", "PersistentVolumeClaim"},
	{"policy/v1", "PodDisruptionBudget"}, {"autoscaling/v2", "HorizontalPodAutoscaler"},
};

static void note_error(struct report *rp, const char *what, int err)
{
	char line[512];

	snprintf(line, sizeof(line), "%s: %s", what, kube_strerror(err));
	cJSON_AddItemToArray(rp->errors, cJSON_CreateString(line));
}

/* Redacts body and adds it as PREFIX name. Takes body (frees it). */
static void add_file(struct report *rp, const char *name, struct buf *body)
{
	char path[100];
	long n = kp_redact(rp->red, body);
	int r;

	snprintf(path, sizeof(path), PREFIX "%.80s", name);
	if (n < 0) {
		note_error(rp, name, (int)n);
		buf_free(body);
		return;
	}
	rp->redactions += n;
	r = kp_tar_add(rp->tar, path, body->data ? body->data : "", body->len, rp->now);
	if (r)
		note_error(rp, path, r);
	else
		cJSON_AddItemToArray(rp->files, cJSON_CreateString(path));
	buf_free(body);
}

static void add_json(struct report *rp, const char *name, const cJSON *doc)
{
	char *s = util_nn(cJSON_Print(doc));
	struct buf b;

	buf_init(&b, KP_TAR_MAX_FILE);
	if (buf_append_str(&b, s) || buf_append_str(&b, "\n"))
		note_error(rp, name, -EFBIG);
	else
		add_file(rp, name, &b);
	buf_free(&b);
	free(s);
}

/* Whether the Secret's name is a string anywhere in spec. */
static bool named_in(const cJSON *spec, const char *name)
{
	const cJSON *v;

	if (cJSON_IsString(spec))
		return !strcmp(spec->valuestring, name);
	cJSON_ArrayForEach(v, spec)
		if (named_in(v, name))
			return true;
	return false;
}

static void secrets(struct report *rp, const cJSON *ph)
{
	cJSON *list = NULL, *s;
	unsigned shorts = 0, learned = 0;
	char path[100];
	const char *name = kp_str(ph, "metadata.name");

	if (kp_list(rp->x, "v1", "Secret", NULL, NULL, &list) || !list) {
		cJSON_AddItemToArray(rp->errors, cJSON_CreateString(
			"secrets: could not list them; their values cannot be searched for in the logs"));
		return;
	}
	cJSON_ArrayForEach(s, kp_get(list, "items"))
		if (kp_redactor_learn(rp->red, s, &shorts) == 0)
			learned++;
	cJSON_ArrayForEach(s, kp_get(list, "items")) {
		const cJSON *labels = kp_get(s, "metadata.labels");
		const cJSON *inst = cJSON_GetObjectItemCaseSensitive(labels, "app.kubernetes.io/instance");
		const char *sn = kp_str(s, "metadata.name");

		if (!sn || !((cJSON_IsString(inst) && !strcmp(inst->valuestring, name)) ||
			     named_in(kp_get(ph, "spec"), sn)))
			continue;
		kp_redact_secret(s);
		snprintf(path, sizeof(path), "secrets/%.60s.json", sn);
		add_json(rp, path, s);
	}
	cJSON_Delete(list);
	rp->secrets = learned;
	if (shorts) {
		char line[160];

		snprintf(line, sizeof(line), "secrets: %u values shorter than %d bytes are not searched for "
			 "in logs (they would match ordinary text); Secret objects still carry none", shorts,
			 KP_REDACT_MIN);
		cJSON_AddItemToArray(rp->errors, cJSON_CreateString(line));
	}
}

static void children(struct report *rp, const char *name)
{
	char sel[300], path[100];

	snprintf(sel, sizeof(sel), "app.kubernetes.io/instance=%s", name);
	for (size_t k = 0; k < sizeof(child_kinds) / sizeof(child_kinds[0]); k++) {
		cJSON *list = NULL, *o;

		if (kp_list(rp->x, child_kinds[k].api_version, child_kinds[k].kind, sel, NULL, &list)) {
			note_error(rp, child_kinds[k].kind, -EIO);
			continue;
		}
		cJSON_ArrayForEach(o, kp_get(list, "items")) {
			cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
								"managedFields");
			snprintf(path, sizeof(path), "children/%s-%.60s.json", child_kinds[k].kind,
				 kp_str(o, "metadata.name") ? kp_str(o, "metadata.name") : "unnamed");
			add_json(rp, path, o);
		}
		cJSON_Delete(list);
	}
}

static void list_into(struct report *rp, const char *api_version, const char *kind,
		      const char *file)
{
	cJSON *list = NULL;

	if (kp_list(rp->x, api_version, kind, NULL, NULL, &list)) {
		note_error(rp, file, -EIO);
		return;
	}
	if (list)
		add_json(rp, file, list);
	cJSON_Delete(list);
}

/* The operator pods' logs, through the API server (pods/log). */
static void operator_logs(struct report *rp)
{
	struct kp_ctx *x = rp->x;
	struct kube_resource pods;
	struct kube_list_options lo = {
		.label_selector = "app.kubernetes.io/part-of=posthog-operator,app.kubernetes.io/component=operator",
	};
	struct kube_status st = {0};
	cJSON *list = NULL, *p, *c;
	char path[1024], file[100];
	int r, code;

	if (kp_resolve(x, "v1", "Pod", &pods) ||
	    (r = kube_list(x->c, &pods, x->a.operator_ns, &lo, &list, &st))) {
		cJSON_AddItemToArray(rp->errors, cJSON_CreateString("operator pods: could not list them"));
		return;
	}
	cJSON_ArrayForEach(p, kp_get(list, "items")) {
		cJSON_ArrayForEach(c, kp_get(p, "spec.containers")) {
			struct buf b;

			snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/log?container=%s&tailLines=%u&limitBytes=%zu",
				 kp_str(p, "metadata.namespace"), kp_str(p, "metadata.name"), kp_str(c, "name"),
				 x->a.log_lines, KP_TAR_MAX_FILE);
			snprintf(file, sizeof(file), "operator/%.30s-%.30s-%.20s.log", kp_str(p, "metadata.namespace"),
				 kp_str(p, "metadata.name"), kp_str(c, "name"));
			buf_init(&b, KP_TAR_MAX_FILE);
			r = kube_raw(x->c, "GET", path, NULL, NULL, 0, &b, &code);
			if (r || code != 200) {
				snprintf(path, sizeof(path), "%s: log not available (HTTP %d): %.200s", file, code,
					 b.data ? b.data : kube_strerror(r));
				cJSON_AddItemToArray(rp->errors, cJSON_CreateString(path));
				buf_free(&b);
				continue;
			}
			add_file(rp, file, &b);
		}
	}
	if (!cJSON_GetArraySize(kp_get(list, "items")))
		cJSON_AddItemToArray(rp->errors, cJSON_CreateString(
			"operator pods: none found (label app.kubernetes.io/part-of=posthog-operator)"));
	cJSON_Delete(list);
}

/* The tail of a local operator log file (--operator-log). */
static void local_log(struct report *rp, const char *file)
{
	FILE *f = fopen(file, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;
	long size;

	if (!f) {
		note_error(rp, file, -errno);
		return;
	}
	buf_init(&b, KP_TAR_MAX_FILE);
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)KP_TAR_MAX_FILE)
		fseek(f, size - (long)KP_TAR_MAX_FILE, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n))
			break;
	fclose(f);
	add_file(rp, "operator/local.log", &b);
}

static int write_out(const char *path, const unsigned char *data, size_t len)
{
	FILE *f = fopen(path, "wbx");
	int r = 0;

	if (!f) {
		fprintf(stderr, "kubectl-posthog: -f %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fwrite(data, 1, len, f) != len)
		r = -EIO;
	if (fclose(f) && !r)
		r = -EIO;
	if (r)
		fprintf(stderr, "kubectl-posthog: writing %s failed\n", path);
	return r;
}

int kp_cmd_report(struct kp_ctx *x, const cJSON *ph)
{
	struct report rp = {.x = x, .now = time(NULL)};
	cJSON *manifest = cJSON_CreateObject(), *clean = cJSON_Duplicate(ph, 1);
	char def[320], ts[32];
	unsigned char *gz = NULL;
	size_t gzlen = 0;
	const char *out = x->a.file;
	struct tm tm;
	int r;

	kp_tar_new(KP_TAR_MAX_TOTAL, &rp.tar);
	rp.red = kp_redactor_new();
	rp.files = cJSON_AddArrayToObject(manifest, "files");
	rp.errors = cJSON_AddArrayToObject(manifest, "notCollected");
	secrets(&rp, ph);
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(clean, "metadata"),
						"managedFields");
	add_json(&rp, "posthog.json", clean);
	children(&rp, x->a.name);
	list_into(&rp, "v1", "Event", "events.json");
	list_into(&rp, "posthog.com/v1alpha1", "PostHogBackup", "backups.json");
	list_into(&rp, "posthog.com/v1alpha1", "PostHogRestore", "restores.json");
	operator_logs(&rp);
	if (x->a.operator_log)
		local_log(&rp, x->a.operator_log);
	gmtime_r(&rp.now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(manifest, "posthog", x->a.name);
	cJSON_AddStringToObject(manifest, "namespace", x->ns);
	cJSON_AddStringToObject(manifest, "created", ts);
	cJSON_AddStringToObject(manifest, "plugin", PHO_VERSION);
	cJSON_AddNumberToObject(manifest, "secretsSearched", rp.secrets);
	cJSON_AddNumberToObject(manifest, "redactions", (double)rp.redactions);
	add_json(&rp, "manifest.json", manifest);
	r = kp_tar_finish(rp.tar, &gz, &gzlen);
	if (!r) {
		if (!out) {
			strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
			snprintf(def, sizeof(def), "posthog-report-%.200s-%s.tar.gz", x->a.name, ts);
			out = def;
		}
		r = write_out(out, gz, gzlen);
	} else {
		fprintf(stderr, "kubectl-posthog: building the archive: %s\n", strerror(-r));
	}
	if (!r && x->a.json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "file", out);
		cJSON_AddItemToObject(o, "manifest", cJSON_Duplicate(manifest, 1));
		r = kp_print(x, o, NULL) ? -EIO : 0;
		cJSON_Delete(o);
	} else if (!r) {
		printf("wrote %s (%d files, %ld values redacted)\n", out,
		       cJSON_GetArraySize(rp.files), rp.redactions);
	}
	free(gz);
	cJSON_Delete(clean);
	cJSON_Delete(manifest);
	kp_tar_free(rp.tar);
	kp_redactor_free(rp.red);
	return r ? 1 : 0;
}
