/*
 * `buckets NAME`: the team -> bucket map, computed by the operator's own
 * assignment (ph_bucket_for_team, controllers/posthog/buckets.c) so that
 * the plugin can never disagree with the operator or the router. The
 * operator does not know which team ids exist (they live in PostHog's
 * PostgreSQL), so counts and previews walk a range of ids, 1-10000 by
 * default, which is how PostHog numbers its teams.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/posthog/posthog.h"
#include "pkg/util/util.h"
#include "plugin-private.h"

static bool is_pinned(const cJSON *pins, int64_t team, unsigned count)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, pins) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "teamId");
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "bucket");

		if (cJSON_IsNumber(t) && kp_num(t) == team && cJSON_IsNumber(b) &&
		    b->valuedouble >= 0 && b->valuedouble < (double)count)
			return true;
	}
	return false;
}

static void add_ready(cJSON *map, const cJSON *ph, unsigned count)
{
	cJSON *ready = cJSON_AddArrayToObject(map, "ready");
	const cJSON *b;

	for (unsigned i = 0; i < count; i++)
		cJSON_AddItemToArray(ready, cJSON_CreateNull());
	cJSON_ArrayForEach(b, kp_get(ph, "status.buckets")) {
		const cJSON *id = kp_get(b, "bucket"), *r = kp_get(b, "ready");

		if (cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < count &&
		    cJSON_IsBool(r))
			cJSON_ReplaceItemInArray(ready, (int)id->valuedouble, cJSON_CreateBool(cJSON_IsTrue(r)));
	}
}

static cJSON *team_doc(int64_t team, unsigned count, const cJSON *pins)
{
	cJSON *t = cJSON_CreateObject();
	unsigned b = 0;

	cJSON_AddNumberToObject(t, "team", (double)team);
	/* count was checked against PH_MAX_BUCKETS: the call cannot fail. */
	if (ph_bucket_for_team(team, count, pins, &b) == 0)
		cJSON_AddNumberToObject(t, "bucket", b);
	else
		cJSON_AddNullToObject(t, "bucket");
	cJSON_AddBoolToObject(t, "pinned", is_pinned(pins, team, count));
	return t;
}

/* Teams of the range per bucket, and the move to `to` buckets. */
static int walk(cJSON *doc, const struct kp_buckets_options *o, unsigned count,
		const cJSON *pins)
{
	unsigned *per = util_xcalloc(count, sizeof(*per));
	cJSON *arr = cJSON_AddArrayToObject(doc, "teamsPerBucket"), *moved_list = NULL, *prev;
	uint64_t moved = 0, total = 0;

	if (o->count) {
		prev = cJSON_AddObjectToObject(doc, "preview");
		cJSON_AddNumberToObject(prev, "from", count);
		cJSON_AddNumberToObject(prev, "to", o->count);
		moved_list = cJSON_AddArrayToObject(prev, "movedTeams");
	}
	for (int64_t t = o->teams_first; t <= o->teams_last; t++) {
		unsigned b = 0, nb = 0;

		/* count and o->count are within 1..PH_MAX_BUCKETS, checked by
		 * kp_buckets_doc and the --count parser: these calls cannot fail. */
		if (ph_bucket_for_team(t, count, pins, &b))
			continue;
		per[b]++;
		total++;
		if (!o->count || ph_bucket_for_team(t, o->count, pins, &nb) || nb == b)
			continue;
		if (moved++ < o->max_listed) {
			cJSON *m = cJSON_CreateObject();

			cJSON_AddNumberToObject(m, "team", (double)t);
			cJSON_AddNumberToObject(m, "from", b);
			cJSON_AddNumberToObject(m, "to", nb);
			cJSON_AddItemToArray(moved_list, m);
		}
	}
	for (unsigned i = 0; i < count; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(per[i]));
	free(per);
	if (o->count) {
		prev = cJSON_GetObjectItemCaseSensitive(doc, "preview");
		cJSON_AddNumberToObject(prev, "teams", (double)total);
		cJSON_AddNumberToObject(prev, "moved", (double)moved);
		cJSON_AddNumberToObject(prev, "share", total ? (double)moved / (double)total : 0);
		cJSON_AddBoolToObject(prev, "truncated", moved > o->max_listed);
	}
	return 0;
}

int kp_buckets_doc(const cJSON *ph, const struct kp_buckets_options *o,
		   cJSON **out, char *err, size_t errlen)
{
	cJSON *spec = NULL, *map = NULL, *doc;
	const cJSON *pins;
	unsigned count;

	if (ph_normalize(ph, &spec) || ph_bucket_map(ph, &map)) {
		snprintf(err, errlen, "spec: the PostHog has no valid spec to compute buckets from");
		cJSON_Delete(spec);
		return -EINVAL;
	}
	count = (unsigned)kp_num(kp_get(map, "buckets"));
	if (count < 1 || count > PH_MAX_BUCKETS) {
		snprintf(err, errlen, "spec.buckets.count: %u is outside 1..%u", count, PH_MAX_BUCKETS);
		cJSON_Delete(spec);
		cJSON_Delete(map);
		return -EINVAL;
	}
	pins = kp_get(spec, "buckets.pins");
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "name", kp_str(ph, "metadata.name"));
	cJSON_AddNumberToObject(doc, "buckets", count);
	add_ready(doc, ph, count);
	cJSON_AddItemToObject(doc, "map", map);
	cJSON_AddNumberToObject(doc, "teamsFirst", (double)o->teams_first);
	cJSON_AddNumberToObject(doc, "teamsLast", (double)o->teams_last);
	if (o->has_team)
		cJSON_AddItemToObject(doc, "team", team_doc(o->team, count, pins));
	walk(doc, o, count, pins);
	cJSON_Delete(spec);
	*out = doc;
	return 0;
}

int kp_buckets_text(const cJSON *doc, bool color, struct buf *out)
{
	const cJSON *team = kp_get(doc, "team"), *prev = kp_get(doc, "preview"), *v, *m;
	char a[32], b[32];
	int i = 0, r;

	kp_scalar(kp_get(doc, "teamsFirst"), a, sizeof(a));
	kp_scalar(kp_get(doc, "teamsLast"), b, sizeof(b));
	r = buf_printf(out, "PostHog %s: %d buckets, %s (teams %s-%s counted)\n", kp_str(doc, "name"),
		       (int)kp_num(kp_get(doc, "buckets")),
		       kp_str(doc, "map.algorithm") ? kp_str(doc, "map.algorithm") : "JumpHash", a, b);
	r = r ? r : buf_printf(out, "  %-6s %-6s %-8s %s\n", "BUCKET", "READY", "TEAMS", "INGESTION TOPIC");
	cJSON_ArrayForEach(v, kp_get(doc, "teamsPerBucket")) {
		const cJSON *rd = cJSON_GetArrayItem(kp_get(doc, "ready"), i);
		const cJSON *topics = cJSON_GetArrayItem(kp_get(doc, "map.topics"), i);
		const char *topic = kp_str(topics, "ingestionTopic");

		r = r ? r : buf_printf(out, "  %-6d ", i);
		r = r ? r : kp_paint(out, color, cJSON_IsTrue(rd) ? KP_GREEN : KP_YELLOW,
				     cJSON_IsBool(rd) ? (cJSON_IsTrue(rd) ? "yes" : "no ") : "-  ");
		r = r ? r : buf_printf(out, "    %-8d %s\n", (int)v->valuedouble, topic ? topic : "");
		i++;
	}
	cJSON_ArrayForEach(v, kp_get(doc, "map.pins")) {
		kp_scalar(v, a, sizeof(a));
		r = r ? r : buf_printf(out, "  pin: team %s -> bucket %s\n", v->string, a);
	}
	if (team) {
		kp_scalar(kp_get(team, "team"), a, sizeof(a));
		kp_scalar(kp_get(team, "bucket"), b, sizeof(b));
		r = r ? r : buf_printf(out, "team %s -> bucket %s%s\n", a, b,
				       cJSON_IsTrue(kp_get(team, "pinned")) ? " (pinned)" : "");
	}
	if (!prev)
		return r;
	r = r ? r : buf_printf(out, "\nPreview: %d -> %d buckets: %d of %d teams move (%.1f%%)\n",
			       (int)kp_num(kp_get(prev, "from")),
			       (int)kp_num(kp_get(prev, "to")),
			       (int)kp_num(kp_get(prev, "moved")),
			       (int)kp_num(kp_get(prev, "teams")),
			       100.0 * cJSON_GetNumberValue(kp_get(prev, "share")));
	i = 0;
	cJSON_ArrayForEach(m, kp_get(prev, "movedTeams")) {
		if (i++ >= 20) {
			r = r ? r : buf_append_str(out, "  ... (-o json lists more)\n");
			break;
		}
		r = r ? r : buf_printf(out, "  team %d: bucket %d -> %d\n",
				       (int)kp_num(kp_get(m, "team")),
				       (int)kp_num(kp_get(m, "from")),
				       (int)kp_num(kp_get(m, "to")));
	}
	return r;
}
