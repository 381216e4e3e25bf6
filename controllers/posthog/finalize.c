/*
 * What the finalizer shows, and when it stops waiting.
 *
 * Dropping the bucket tables needs the password Secret and a reachable
 * ClickHouse. When a namespace is deleted, its Secrets go before the
 * finalizer runs; a wrong password or a ClickHouse that is gone for good
 * blocks the same way. A deletion must be able to finish, so a drop that
 * keeps failing is retried for PHC_DELETE_WAIT_S after the deletion began,
 * or until the user sets PHC_KEEP_TABLES_ANNOTATION to "true"; then the
 * tables are left, and a TablesLeft Warning Event says so. Meanwhile the
 * status says the PostHog is being deleted and what blocks it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller-private.h"

const char *phc_finalize_give_up(const cJSON *meta, time_t now)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
	const char *keep = util_json_str(ann, PHC_KEEP_TABLES_ANNOTATION);
	const char *ts = util_json_str(meta, "deletionTimestamp");
	time_t since;

	if (keep && !strcmp(keep, "true"))
		return "the annotation " PHC_KEEP_TABLES_ANNOTATION " is \"true\"";
	if (ts && kube_parse_rfc3339(ts, &since) == 0 && now - since >= PHC_DELETE_WAIT_S)
		return "the deletion has waited for them for " PHC_DELETE_WAIT_TEXT;
	return NULL;
}

void phc_finalize_blocked(struct phc_run *run, const char *blocker)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(run->ph, "status");
	const char *was = util_json_str(phc_condition(cJSON_GetObjectItemCaseSensitive(old, "conditions"),
						"Deleting"), "message");
	struct kube_status st = {0};
	char msg[1600];
	cJSON *obj;
	int r;

	snprintf(msg, sizeof(msg),
		 "deletionPolicy Delete: dropping the bucket tables failed: %s; retrying for up to "
		 PHC_DELETE_WAIT_TEXT " after the deletion began, then they are left. To leave them "
		 "now: kubectl annotate posthog %s " PHC_KEEP_TABLES_ANNOTATION "=true", blocker,
		 run->name);
	phc_set_condition(run->conds, "Deleting", "True", "TablesNotDropped", msg,
			  run->generation, run->now);
	phc_set_condition(run->conds, "Ready", "False", "Deleting", msg, run->generation, run->now);
	cJSON_DeleteItemFromObjectCaseSensitive(run->status, "phase");
	cJSON_AddStringToObject(run->status, "phase", "Deleting");
	if (old && cJSON_Compare(old, run->status, 1))
		return;
	obj = cJSON_Duplicate(run->ph, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	cJSON_AddItemReferenceToObject(obj, "status", run->status);
	r = kube_update(run->p->client, &run->p->posthog_res, run->ns, run->name, "status", obj,
			NULL, &st);
	cJSON_Delete(obj);
	if (r < 0) {
		log_write(run->p->log, r == KUBE_ECONFLICT ? LOG_DEBUG : LOG_WARN, &run->lf,
			  "status update while deleting: %s", st.message[0] ? st.message : kube_strerror(r));
		return;
	}
	/* After the write, so that a conflict does not repeat it. */
	if (!was || strcmp(was, msg) != 0)
		recorder_event(run->p->recorder, run->ph, "Warning", "DeletionBlocked", "Delete", "%s",
			       msg);
}
