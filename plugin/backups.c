/*
 * `backup`, `backups`, `restore` and `reshard`. The backup resources are
 * the operator's PostHogBackup, PostHogBackupSchedule and PostHogRestore
 * (posthog.com/v1alpha1; spec.posthog.name names the PostHog, spec.store
 * the S3 store, docs/backups.md); the plugin creates them and reads their
 * status, and the operator does the work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "plugin-private.h"

bool kp_backup_matches(const cJSON *obj, const char *name)
{
	const char *ph = kp_str(obj, "spec.posthog.name");

	return ph && name && !strcmp(ph, name);
}

static int newest_first(const void *a, const void *b)
{
	const char *ta = kp_str(*(const cJSON *const *)a, "metadata.creationTimestamp");
	const char *tb = kp_str(*(const cJSON *const *)b, "metadata.creationTimestamp");
	int c = strcmp(tb ? tb : "", ta ? ta : "");

	if (c)
		return c;
	ta = kp_str(*(const cJSON *const *)a, "metadata.name");
	tb = kp_str(*(const cJSON *const *)b, "metadata.name");
	return strcmp(tb ? tb : "", ta ? ta : "");
}

/* The items of list that belong to name, newest first. Caller frees the
 * array (not the items, which are borrowed). */
static const cJSON **matching(const cJSON *list, const char *name, int *n)
{
	int total = cJSON_GetArraySize(kp_get(list, "items")), i = 0;
	const cJSON **v = util_xcalloc((size_t)total + 1, sizeof(*v)), *e;

	cJSON_ArrayForEach(e, kp_get(list, "items"))
		if (kp_backup_matches(e, name))
			v[i++] = e;
	qsort(v, (size_t)i, sizeof(*v), newest_first);
	*n = i;
	return v;
}

static void copy_field(cJSON *into, const char *key, const cJSON *from, const char *path)
{
	const cJSON *v = kp_get(from, path);

	if (v)
		cJSON_AddItemToObject(into, key, cJSON_Duplicate(v, 1));
}

cJSON *kp_backups_doc(const cJSON *list, const char *name)
{
	cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "backups");
	int n = 0;
	const cJSON **v = matching(list, name, &n);

	cJSON_AddStringToObject(doc, "posthog", name ? name : "");
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		copy_field(o, "name", v[i], "metadata.name");
		copy_field(o, "created", v[i], "metadata.creationTimestamp");
		{
			const cJSON *labels = kp_get(v[i], "metadata.labels");
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(labels, "posthog.com/backup-schedule");

			if (cJSON_IsString(s))
				cJSON_AddStringToObject(o, "schedule", s->valuestring);
		}
		if (kp_str(v[i], "status.phase"))
			copy_field(o, "phase", v[i], "status.phase");
		else
			cJSON_AddStringToObject(o, "phase", "Pending");
		copy_field(o, "startedAt", v[i], "status.startedAt");
		copy_field(o, "completedAt", v[i], "status.completedAt");
		copy_field(o, "bytes", v[i], "status.bytes");
		copy_field(o, "parts", v[i], "status.parts");
		copy_field(o, "tables", v[i], "status.tables");
		copy_field(o, "rows", v[i], "status.rows");
		copy_field(o, "error", v[i], "status.error");
		cJSON_AddItemToArray(arr, o);
	}
	free(v);
	return doc;
}

int kp_backups_text(const cJSON *doc, bool color, struct buf *out)
{
	const cJSON *b;
	int r;

	if (!cJSON_GetArraySize(kp_get(doc, "backups")))
		return buf_printf(out, "No backups of %s.\n", kp_str(doc, "posthog"));
	r = buf_printf(out, "%-40s %-10s %-14s %-21s %s\n", "NAME", "PHASE", "BYTES", "COMPLETED", "ERROR");
	cJSON_ArrayForEach(b, kp_get(doc, "backups")) {
		const char *phase = kp_str(b, "phase");
		char bytes[32];
		size_t pad = strlen(phase) < 10 ? 10 - strlen(phase) : 0;

		kp_scalar(kp_get(b, "bytes"), bytes, sizeof(bytes));
		r = r ? r : buf_printf(out, "%-40s ", kp_str(b, "name"));
		r = r ? r : kp_paint(out, color, kp_state_color(phase), phase);
		r = r ? r : buf_printf(out, "%*s %-14s %-21s %s\n", (int)pad, "",
				       bytes, kp_str(b, "completedAt") ? kp_str(b, "completedAt") : "-",
				       kp_str(b, "error") ? kp_str(b, "error") : "");
	}
	return r;
}

static cJSON *store_from_flags(const struct kp_args *a, char *err, size_t errlen)
{
	cJSON *s, *cred;

	if (!a->s3_bucket || !a->s3_secret) {
		snprintf(err, errlen, "%s: needed with --s3-endpoint",
			 !a->s3_bucket ? "--s3-bucket" : "--s3-secret");
		return NULL;
	}
	s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "endpoint", a->s3_endpoint);
	cJSON_AddStringToObject(s, "bucket", a->s3_bucket);
	if (a->s3_prefix)
		cJSON_AddStringToObject(s, "prefix", a->s3_prefix);
	if (a->s3_region)
		cJSON_AddStringToObject(s, "region", a->s3_region);
	cred = cJSON_AddObjectToObject(s, "credentials");
	cJSON_AddStringToObject(cred, "secretName", a->s3_secret);
	return s;
}

int kp_store(const struct kp_args *a, const cJSON *schedules, const cJSON *backups,
	     cJSON **out, char *err, size_t errlen)
{
	const cJSON *lists[] = {schedules, backups};

	if (a->s3_endpoint) {
		*out = store_from_flags(a, err, errlen);
		return *out ? 0 : -EINVAL;
	}
	if (a->s3_bucket || a->s3_secret || a->s3_prefix || a->s3_region) {
		snprintf(err, errlen, "--s3-endpoint: needed with the other --s3-* flags");
		return -EINVAL;
	}
	for (int l = 0; l < 2; l++) {
		int n = 0;
		const cJSON **v = matching(lists[l], a->name, &n);
		const cJSON *store = n ? kp_get(v[0], "spec.store") : NULL;

		free(v);
		if (cJSON_IsObject(store)) {
			*out = cJSON_Duplicate(store, 1);
			return 0;
		}
	}
	snprintf(err, errlen, "--s3-endpoint: no PostHogBackupSchedule or PostHogBackup of %s to take "
		 "spec.store from; give --s3-endpoint, --s3-bucket and --s3-secret", a->name);
	return -ENOENT;
}

static cJSON *resource(const char *kind, const cJSON *ph, const char *name)
{
	cJSON *o = cJSON_CreateObject(), *md, *spec, *ref, *labels;

	cJSON_AddStringToObject(o, "apiVersion", "posthog.com/v1alpha1");
	cJSON_AddStringToObject(o, "kind", kind);
	md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	if (kp_str(ph, "metadata.namespace"))
		cJSON_AddStringToObject(md, "namespace", kp_str(ph, "metadata.namespace"));
	labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, "app.kubernetes.io/created-by", "kubectl-posthog");
	spec = cJSON_AddObjectToObject(o, "spec");
	ref = cJSON_AddObjectToObject(spec, "posthog");
	cJSON_AddStringToObject(ref, "name", kp_str(ph, "metadata.name"));
	return o;
}

/* "<prefix>-YYYYMMDDhhmmss", cut so that the name stays a valid name. */
static void timed_name(const char *prefix, time_t now, char *out, size_t outlen)
{
	struct tm tm;
	char ts[20];

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
	snprintf(out, outlen, "%.200s-%s", prefix, ts);
}

cJSON *kp_backup_object(const cJSON *ph, const char *backup_name, const cJSON *store,
			time_t now)
{
	char name[256];
	cJSON *o;

	if (!backup_name)
		timed_name(kp_str(ph, "metadata.name"), now, name, sizeof(name));
	o = resource("PostHogBackup", ph, backup_name ? backup_name : name);
	cJSON_AddItemToObject((cJSON *)kp_get(o, "spec"), "store", cJSON_Duplicate(store, 1));
	return o;
}

cJSON *kp_restore_object(const cJSON *ph, const char *name, const char *backup,
			 const cJSON *store, bool replay_kafka, time_t now)
{
	char gen[256], prefix[240];
	cJSON *o, *spec;

	if (!name) {
		snprintf(prefix, sizeof(prefix), "restore-%.200s", backup);
		timed_name(prefix, now, gen, sizeof(gen));
	}
	o = resource("PostHogRestore", ph, name ? name : gen);
	spec = (cJSON *)kp_get(o, "spec");
	cJSON_AddItemToObject(spec, "store", cJSON_Duplicate(store, 1));
	cJSON_AddStringToObject(spec, "backupName", backup);
	if (replay_kafka)
		cJSON_AddBoolToObject(spec, "replayKafka", true);
	return o;
}

cJSON *kp_reshard_doc(const cJSON *ph)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "name", kp_str(ph, "metadata.name") ? kp_str(ph, "metadata.name") : "");
	kp_copy_or_null(doc, "reshard", ph, "status.reshard");
	kp_copy_or_null(doc, "shards", ph, "spec.clickhouse.shards");
	{
		const cJSON *c, *conds = kp_get(ph, "status.conditions");

		cJSON_ArrayForEach(c, conds) {
			const char *t = kp_str(c, "type");

			if (t && (!strcmp(t, "ShardsUnbalanced") || strstr(t, "Reshard")))
				cJSON_AddItemToObject(doc, t, cJSON_Duplicate(c, 1));
		}
	}
	return doc;
}

int kp_reshard_text(const cJSON *doc, bool color, struct buf *out)
{
	const cJSON *rs = kp_get(doc, "reshard"), *f;
	char shards[16];
	int r;

	kp_scalar(kp_get(doc, "shards"), shards, sizeof(shards));
	r = buf_printf(out, "PostHog %s: %s ClickHouse shards in the spec\n", kp_str(doc, "name"), shards);
	r = r ? r : kp_paint(out, color, KP_BOLD, "Reshard");
	r = r ? r : buf_append_str(out, "\n");
	if (!rs || cJSON_IsNull(rs) || (cJSON_IsObject(rs) && !rs->child))
		r = r ? r : buf_append_str(out, "  none in progress\n");
	else
		r = r ? r : kp_fields_text(rs, "  ", out);
	cJSON_ArrayForEach(f, rs) {
		if (cJSON_IsObject(f) && f->string) {
			r = r ? r : buf_printf(out, "  %s:\n", f->string);
			r = r ? r : kp_fields_text(f, "    ", out);
		}
	}
	cJSON_ArrayForEach(f, doc) {
		if (f->string && cJSON_IsObject(f) && kp_str(f, "type"))
			r = r ? r : buf_printf(out, "  condition %s=%s: %s\n", kp_str(f, "type"),
					       kp_str(f, "status") ? kp_str(f, "status") : "?",
					       kp_str(f, "message") ? kp_str(f, "message") : "");
	}
	return r;
}
