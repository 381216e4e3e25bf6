/*
 * `status NAME`: one document from the PostHog's status, its backups and
 * its Events, and the text an SRE reads. Status fields that other parts of
 * the operator add over time (status.upgrade, status.reshard, a bucket's
 * lag) are copied as the operator wrote them, and printed field by field,
 * so the plugin shows them without knowing their shape; absent, they are
 * null in JSON and "none" in text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/util/util.h"
#include "plugin-private.h"

/* Keys a bucket's lag may be under; the first present wins. */
static const char *const lag_keys[] = {"lag", "consumerLag", "lagMessages", NULL};

static cJSON *bucket_doc(const cJSON *b)
{
	cJSON *o = cJSON_Duplicate(b, 1);

	if (!cJSON_GetObjectItemCaseSensitive(o, "lag")) {
		const cJSON *lag = NULL;

		for (int i = 1; lag_keys[i] && !lag; i++)
			lag = cJSON_GetObjectItemCaseSensitive(b, lag_keys[i]);
		cJSON_AddItemToObject(o, "lag", lag ? cJSON_Duplicate(lag, 1) : cJSON_CreateNull());
	}
	return o;
}

/* An Event's time: the newest of its timestamps, as text that sorts. */
static const char *event_time(const cJSON *e)
{
	static const char *const paths[] = {
		"series.lastObservedTime", "lastTimestamp", "eventTime",
		"deprecatedLastTimestamp", "metadata.creationTimestamp", NULL,
	};

	for (int i = 0; paths[i]; i++) {
		const char *t = kp_str(e, paths[i]);

		if (t && *t)
			return t;
	}
	return "";
}

static int by_time(const void *a, const void *b)
{
	return strcmp(event_time(*(const cJSON *const *)a), event_time(*(const cJSON *const *)b));
}

static cJSON *event_doc(const cJSON *e)
{
	cJSON *o = cJSON_CreateObject();
	const char *msg = kp_str(e, "message") ? kp_str(e, "message") : kp_str(e, "note");
	const cJSON *count = kp_get(e, "count");

	if (!count)
		count = kp_get(e, "series.count");
	cJSON_AddStringToObject(o, "time", event_time(e));
	cJSON_AddStringToObject(o, "type", kp_str(e, "type") ? kp_str(e, "type") : "");
	cJSON_AddStringToObject(o, "reason", kp_str(e, "reason") ? kp_str(e, "reason") : "");
	cJSON_AddStringToObject(o, "message", msg ? msg : "");
	cJSON_AddNumberToObject(o, "count", cJSON_IsNumber(count) ? count->valuedouble : 1);
	return o;
}

/* The last n Events of the list, oldest first. */
static cJSON *events_doc(const cJSON *list, unsigned n)
{
	const cJSON *items = kp_get(list, "items");
	int total = cJSON_GetArraySize(items), i = 0;
	const cJSON **v, *e;
	cJSON *out = cJSON_CreateArray();

	if (total <= 0 || n == 0)
		return out;
	v = util_xcalloc((size_t)total, sizeof(*v));
	cJSON_ArrayForEach(e, items)
		v[i++] = e;
	qsort(v, (size_t)total, sizeof(*v), by_time);
	for (i = total > (int)n ? total - (int)n : 0; i < total; i++)
		cJSON_AddItemToArray(out, event_doc(v[i]));
	free(v);
	return out;
}

cJSON *kp_status_doc(const cJSON *ph, const cJSON *events_list,
		     const cJSON *backups_list, unsigned events)
{
	cJSON *doc = cJSON_CreateObject(), *buckets = cJSON_CreateArray();
	const cJSON *b, *conds = kp_get(ph, "status.conditions"), *c;
	cJSON *cl = cJSON_CreateArray();

	cJSON_AddStringToObject(doc, "name", kp_str(ph, "metadata.name") ? kp_str(ph, "metadata.name") : "");
	cJSON_AddStringToObject(doc, "namespace",
				kp_str(ph, "metadata.namespace") ? kp_str(ph, "metadata.namespace") : "");
	kp_copy_or_null(doc, "phase", ph, "status.phase");
	kp_copy_or_null(doc, "version", ph, "status.version");
	kp_copy_or_null(doc, "specVersion", ph, "spec.version");
	kp_copy_or_null(doc, "ready", ph, "status.ready");
	kp_copy_or_null(doc, "generation", ph, "metadata.generation");
	kp_copy_or_null(doc, "observedGeneration", ph, "status.observedGeneration");
	cJSON_ArrayForEach(c, conds) {
		cJSON *o = cJSON_CreateObject();

		kp_copy_or_null(o, "type", c, "type");
		kp_copy_or_null(o, "status", c, "status");
		kp_copy_or_null(o, "reason", c, "reason");
		kp_copy_or_null(o, "message", c, "message");
		cJSON_AddItemToArray(cl, o);
	}
	cJSON_AddItemToObject(doc, "conditions", cl);
	kp_copy_or_null(doc, "components", ph, "status.components");
	cJSON_ArrayForEach(b, kp_get(ph, "status.buckets"))
		cJSON_AddItemToArray(buckets, bucket_doc(b));
	cJSON_AddItemToObject(doc, "buckets", buckets);
	kp_copy_or_null(doc, "upgrade", ph, "status.upgrade");
	kp_copy_or_null(doc, "reshard", ph, "status.reshard");
	if (backups_list) {
		cJSON *bd = kp_backups_doc(backups_list, kp_str(ph, "metadata.name"));

		cJSON_AddItemToObject(doc, "backups", cJSON_DetachItemFromObject(bd, "backups"));
		cJSON_Delete(bd);
	} else {
		cJSON_AddNullToObject(doc, "backups");
	}
	cJSON_AddItemToObject(doc, "events", events_doc(events_list, events));
	return doc;
}

/* ---- text ------------------------------------------------------------ */

static int heading(struct buf *out, bool color, const char *title)
{
	int r = buf_append_str(out, "\n");

	r = r ? r : kp_paint(out, color, KP_BOLD, title);
	return r ? r : buf_append_str(out, "\n");
}

static int components_text(const cJSON *comps, bool color, struct buf *out)
{
	const cJSON *c;
	int r = heading(out, color, "Components");

	if (!cJSON_GetArraySize(comps))
		return r ? r : buf_append_str(out, "  none reported yet\n");
	cJSON_ArrayForEach(c, comps) {
		const cJSON *ready = kp_get(c, "ready");
		const char *state = cJSON_IsTrue(ready) ? "Ready" : "NotReady";
		char rr[32], rp[32], up[32];

		kp_scalar(kp_get(c, "readyReplicas"), rr, sizeof(rr));
		kp_scalar(kp_get(c, "replicas"), rp, sizeof(rp));
		kp_scalar(kp_get(c, "updatedReplicas"), up, sizeof(up));
		r = r ? r : buf_printf(out, "  %-13s ", c->string ? c->string : "?");
		r = r ? r : kp_paint(out, color, cJSON_IsTrue(ready) ? KP_GREEN : KP_YELLOW, state);
		r = r ? r : buf_printf(out, "%*s %s/%s ready, %s updated%s%s%s%s\n",
				       (int)(9 - strlen(state)), "", rr, rp, up,
				       kp_str(c, "version") ? ", version " : "",
				       kp_str(c, "version") ? kp_str(c, "version") : "",
				       kp_str(c, "message") && *kp_str(c, "message") ? ": " : "",
				       kp_str(c, "message") ? kp_str(c, "message") : "");
	}
	return r;
}

static int buckets_text(const cJSON *buckets, bool color, struct buf *out)
{
	const cJSON *b;
	int r = heading(out, color, "Buckets");

	if (!cJSON_GetArraySize(buckets))
		return r ? r : buf_append_str(out, "  none reported yet\n");
	r = r ? r : buf_printf(out, "  %-6s %-9s %-10s %-10s %s\n", "BUCKET", "READY", "INGESTION",
			       "ASYNC", "LAG");
	cJSON_ArrayForEach(b, buckets) {
		char id[16], lag[32], ing[32], as[32], a1[16], a2[16];
		bool ready = cJSON_IsTrue(kp_get(b, "ready"));

		kp_scalar(kp_get(b, "bucket"), id, sizeof(id));
		kp_scalar(kp_get(b, "lag"), lag, sizeof(lag));
		kp_scalar(kp_get(b, "ingestion.readyReplicas"), a1, sizeof(a1));
		kp_scalar(kp_get(b, "ingestion.replicas"), a2, sizeof(a2));
		snprintf(ing, sizeof(ing), "%s/%s", a1, a2);
		kp_scalar(kp_get(b, "async.readyReplicas"), a1, sizeof(a1));
		kp_scalar(kp_get(b, "async.replicas"), a2, sizeof(a2));
		snprintf(as, sizeof(as), "%s/%s", a1, a2);
		r = r ? r : buf_printf(out, "  %-6s ", id);
		r = r ? r : kp_paint(out, color, ready ? KP_GREEN : KP_YELLOW, ready ? "yes" : "no ");
		r = r ? r : buf_printf(out, "       %-10s %-10s %s%s%s\n", ing, as, lag,
				       kp_str(b, "message") && *kp_str(b, "message") ? "  " : "",
				       kp_str(b, "message") ? kp_str(b, "message") : "");
	}
	return r;
}

/* An object the operator writes whose shape the plugin does not fix. */
static int section_text(const char *title, const cJSON *obj, bool color, struct buf *out)
{
	int r = heading(out, color, title);

	if (!obj || cJSON_IsNull(obj) || (cJSON_IsObject(obj) && !obj->child))
		return r ? r : buf_append_str(out, "  none\n");
	return r ? r : kp_fields_text(obj, "  ", out);
}

static int backups_section(const cJSON *backups, bool color, struct buf *out)
{
	int r = heading(out, color, "Backups");
	const cJSON *b;
	int n = 0;

	if (!backups || cJSON_IsNull(backups))
		return r ? r : buf_append_str(out, "  none (no backup resources in this cluster)\n");
	if (!cJSON_GetArraySize(backups))
		return r ? r : buf_append_str(out, "  none\n");
	cJSON_ArrayForEach(b, backups) {
		if (n++ >= 5)
			break;
		r = r ? r : buf_printf(out, "  %-40s ", kp_str(b, "name") ? kp_str(b, "name") : "?");
		r = r ? r : kp_paint(out, color, kp_state_color(kp_str(b, "phase")),
				     kp_str(b, "phase") ? kp_str(b, "phase") : "Pending");
		r = r ? r : buf_printf(out, "  %s\n", kp_str(b, "created") ? kp_str(b, "created") : "");
	}
	return r;
}

static int events_text(const cJSON *events, bool color, struct buf *out)
{
	int r = heading(out, color, "Events");
	const cJSON *e;

	if (!cJSON_GetArraySize(events))
		return r ? r : buf_append_str(out, "  none\n");
	cJSON_ArrayForEach(e, events) {
		const char *type = kp_str(e, "type");
		char count[16];

		kp_scalar(kp_get(e, "count"), count, sizeof(count));
		r = r ? r : buf_printf(out, "  %-20s ", kp_str(e, "time"));
		r = r ? r : kp_paint(out, color, type && !strcmp(type, "Warning") ? KP_RED : NULL,
				     type ? type : "");
		r = r ? r : buf_printf(out, " %s (x%s): %s\n", kp_str(e, "reason"), count,
				       kp_str(e, "message"));
	}
	return r;
}

int kp_status_text(const cJSON *doc, bool color, struct buf *out)
{
	const char *phase = kp_str(doc, "phase");
	const cJSON *c;
	char gen[24], ogen[24];
	int r;

	kp_scalar(kp_get(doc, "generation"), gen, sizeof(gen));
	kp_scalar(kp_get(doc, "observedGeneration"), ogen, sizeof(ogen));
	r = buf_printf(out, "PostHog %s/%s: ", kp_str(doc, "namespace"), kp_str(doc, "name"));
	r = r ? r : kp_paint(out, color, kp_state_color(phase), phase ? phase : "Unknown");
	r = r ? r : buf_printf(out, "\n  version %s (spec %s), ready buckets %s, generation %s observed %s\n",
			       kp_str(doc, "version") ? kp_str(doc, "version") : "-",
			       kp_str(doc, "specVersion") ? kp_str(doc, "specVersion") : "-",
			       kp_str(doc, "ready") ? kp_str(doc, "ready") : "-", gen, ogen);
	r = r ? r : heading(out, color, "Conditions");
	cJSON_ArrayForEach(c, kp_get(doc, "conditions")) {
		const char *st = kp_str(c, "status");

		r = r ? r : buf_printf(out, "  %-20s ", kp_str(c, "type") ? kp_str(c, "type") : "?");
		r = r ? r : kp_paint(out, color, kp_state_color(st), st ? st : "?");
		r = r ? r : buf_printf(out, "  %s%s%s\n", kp_str(c, "reason") ? kp_str(c, "reason") : "",
				       kp_str(c, "message") && *kp_str(c, "message") ? ": " : "",
				       kp_str(c, "message") ? kp_str(c, "message") : "");
	}
	r = r ? r : components_text(kp_get(doc, "components"), color, out);
	r = r ? r : buckets_text(kp_get(doc, "buckets"), color, out);
	r = r ? r : section_text("Upgrade", kp_get(doc, "upgrade"), color, out);
	r = r ? r : section_text("Reshard", kp_get(doc, "reshard"), color, out);
	r = r ? r : backups_section(kp_get(doc, "backups"), color, out);
	return r ? r : events_text(kp_get(doc, "events"), color, out);
}
