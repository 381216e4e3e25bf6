/*
 * Kafka broker membership (docs/scaling.md). The controller quorum is a
 * StatefulSet of its own with a fixed voter count; brokers change here:
 *
 *   more brokers: the broker StatefulSet grows first; once every broker
 *     is ready, a move Job (ph_kafka_move_job) spreads the partition
 *     replicas over all of them, throttled;
 *   fewer brokers: a move Job first takes every replica off the brokers
 *     that go (it refuses when a topic's replication factor exceeds the
 *     brokers that stay) and checks none is left; only when it completed
 *     does the StatefulSet shrink.
 *
 * status.components.kafka.brokers records the count whose move finished,
 * and reassignmentJob the Job in progress, so a restarted operator picks
 * up where it was. A move that completed is recorded as lastMove and
 * lastMoveJob, with a KafkaBrokersDrained or KafkaReplicasSpread Event, in
 * the same reconcile that acts on it (the shrink, for a drain); its Job is
 * kept, complete, until a newer move completes, so that what justified a
 * shrink stays readable (prune asks phc_scale_kept_job).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller-private.h"

static void record(struct phc_scale *sc, const char *fmt, int a, int b, const char *job)
	__attribute__((format(printf, 2, 0)));

static void record(struct phc_scale *sc, const char *fmt, int a, int b, const char *job)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(sc->reassignment, sizeof(sc->reassignment), fmt, a, b);
#pragma GCC diagnostic pop
	snprintf(sc->reassignment_job, sizeof(sc->reassignment_job), "%s", job);
	snprintf(sc->message, sizeof(sc->message), "Kafka: %s (Job %s)", sc->reassignment, job);
	sc->settled = false;
}

/* The move Job has completed: record it, and say so once (the status
 * this reconcile read names another Job, or none). */
static void completed(struct phc_run *run, struct phc_scale *sc, const char *job,
		      const char *reason, const char *what)
{
	const char *seen = util_json_get_str(run->status, "components.kafka.lastMoveJob", "");

	snprintf(sc->last_move, sizeof(sc->last_move), "%s", what);
	snprintf(sc->last_move_job, sizeof(sc->last_move_job), "%s", job);
	if (strcmp(seen, job))
		recorder_event(run->p->recorder, run->ph, "Normal", reason, "Scale",
			       "Job %s completed: %s", job, what);
}

/* Adds the move Job to the desired children (so that the stage applies
 * it and prune keeps it), and reads its live state. */
static int move(struct phc_run *run, struct phc_scale *sc, const char *job, int from, int to,
		bool *complete, bool *failed)
{
	cJSON *obj = NULL, *entry, *live;
	int r = ph_kafka_move_job(run->ph, job, from, to, &obj);

	if (r < 0) {
		snprintf(sc->message, sizeof(sc->message), "building the Kafka move Job %s failed", job);
		sc->fail_reason = "BuildFailed";
		return r;
	}
	entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "stage", "kafka");
	cJSON_AddItemToObject(entry, "object", obj);
	cJSON_AddItemToArray(run->desired, entry);
	live = informer_get(run->scope->children[PHC_JOB], run->ns, job);
	*complete = live && phc_job_condition(live, "Complete");
	*failed = live && phc_job_condition(live, "Failed");
	cJSON_Delete(live);
	return 0;
}

int phc_scale_kafka(struct phc_run *run, struct phc_scale *sc)
{
	const cJSON *ks = util_json_get(run->status, "components.kafka");
	int want = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(run->spec, "kafka"), "brokers", 3);
	int done = (int)util_json_num(ks, "brokers", 0), live_n, ready, from, r;
	const char *old_job = util_json_str(ks, "reassignmentJob");
	char name[96], cname[112], job[128];
	cJSON *live, *desired;
	bool complete = false, failed = false;

	sc->kafka_controllers = -1;
	sc->kafka_brokers = -1;
	sc->reassignment[0] = sc->reassignment_job[0] = '\0';
	snprintf(sc->last_move, sizeof(sc->last_move), "%s", util_json_get_str(ks, "lastMove", ""));
	snprintf(sc->last_move_job, sizeof(sc->last_move_job), "%s",
		 util_json_get_str(ks, "lastMoveJob", ""));
	if (ph_is_external(run->spec, "kafka") || ph_child_name(run->name, "kafka", name, sizeof(name)) < 0)
		return 0;
	snprintf(cname, sizeof(cname), "%s-controller", name);
	live = informer_get(run->scope->children[PHC_STATEFULSET], run->ns, cname);
	if (live)
		sc->kafka_controllers = phc_sts_ready(live);
	cJSON_Delete(live);
	live = informer_get(run->scope->children[PHC_STATEFULSET], run->ns, name);
	desired = phc_desired_object(run, "kafka", "StatefulSet", name);
	if (!live || !desired) {
		cJSON_Delete(live);
		return 0; /* a new cluster starts with the spec's brokers */
	}
	live_n = (int)util_json_num(cJSON_GetObjectItemCaseSensitive(live, "spec"), "replicas", 1);
	ready = phc_sts_ready(live);
	cJSON_Delete(live);
	if (done == 0)
		done = live_n;
	sc->kafka_brokers = done;
	if (want == done && want == live_n)
		return 0;
	if (old_job)
		snprintf(job, sizeof(job), "%s", old_job);
	else
		snprintf(job, sizeof(job), "%s-kafka-move-%d-%d-%lld", run->name, done, want,
			 (long long)(run->generation % 100000));
	if (want < live_n) {
		/* Drain first; the StatefulSet keeps every broker meanwhile. */
		phc_set_replicas(desired, live_n);
		r = move(run, sc, job, live_n, want, &complete, &failed);
		if (r < 0)
			return r;
		if (complete) {
			char what[160];

			snprintf(what, sizeof(what),
				 "no partition replica left on brokers %d..%d; the broker StatefulSet "
				 "shrinks from %d to %d", want, live_n - 1, live_n, want);
			completed(run, sc, job, "KafkaBrokersDrained", what);
			phc_set_replicas(desired, want);
			sc->kafka_brokers = want;
			snprintf(sc->message, sizeof(sc->message),
				 "Kafka: brokers %d..%d drained, the StatefulSet shrinks", want, live_n - 1);
			sc->settled = false;
			return 0;
		}
		record(sc, "moving every partition replica off brokers %d..%d", want, live_n - 1, job);
	} else if (want > done) {
		/* Grow first, then spread the replicas over every broker. */
		phc_set_replicas(desired, want);
		from = done;
		if (live_n < want || ready < want) {
			snprintf(sc->message, sizeof(sc->message), "Kafka: starting brokers %d..%d",
				 live_n < want ? live_n : from, want - 1);
			sc->settled = false;
			return 0;
		}
		r = move(run, sc, job, from, want, &complete, &failed);
		if (r < 0)
			return r;
		if (complete) {
			char what[160];

			snprintf(what, sizeof(what), "partition replicas spread over brokers 0..%d",
				 want - 1);
			completed(run, sc, job, "KafkaReplicasSpread", what);
			sc->kafka_brokers = want;
			return 0;
		}
		record(sc, "moving partition replicas onto brokers %d..%d, throttled", from, want - 1, job);
	} else {
		/* Shrunk: the StatefulSet follows once it is under way. When the
		 * reconcile that shrank it could not write its status (a 409),
		 * this one still reads the drain in progress: record it here. */
		sc->kafka_brokers = want;
		live = old_job ? informer_get(run->scope->children[PHC_JOB], run->ns, old_job) : NULL;
		if (live && phc_job_condition(live, "Complete")) {
			char what[160];

			snprintf(what, sizeof(what),
				 "no partition replica left on brokers %d..%d; the broker StatefulSet "
				 "shrinks from %d to %d", want, done - 1, done, want);
			completed(run, sc, old_job, "KafkaBrokersDrained", what);
		}
		cJSON_Delete(live);
		return 0;
	}
	if (failed) {
		snprintf(sc->message, sizeof(sc->message),
			 "Kafka move Job %s failed: spec.kafka.brokers %d may be below a topic's "
			 "replication factor, or a broker was unreachable (the Job's log says which); the "
			 "broker StatefulSet is left as it is. Fix the cause and delete the Job to retry, or "
			 "set spec.kafka.brokers back to %d", job, want, live_n);
		sc->fail_reason = "KafkaMoveFailed";
	}
	phc_requeue(run, 10000);
	return 0;
}

/* The trailing "-<n>" of a move Job's name (the PostHog's generation). */
static long name_generation(const char *name)
{
	const char *dash = strrchr(name, '-');
	long g = 0;

	for (const char *p = dash ? dash + 1 : ""; *p >= '0' && *p <= '9' && g < 1000000; p++)
		g = g * 10 + (*p - '0');
	return g;
}

/*
 * The kept move Job is read from the live Jobs, not from status: a
 * reconcile that runs on a cached PostHog older than the status write of
 * the one that completed a move (a Job or StatefulSet event can bring it
 * first) would otherwise prune the Job that justified the shrink.
 */
const char *phc_scale_kept_job(const struct phc_run *run, const cJSON *jobs)
{
	const char *best = NULL, *best_t = NULL;
	char prefix[128];
	const cJSON *j;

	if (snprintf(prefix, sizeof(prefix), "%s-kafka-move-", run->name) >= (int)sizeof(prefix))
		return NULL;
	cJSON_ArrayForEach(j, jobs) {
		const char *name = util_json_get_str(j, "metadata.name", NULL);
		const char *t = util_json_get_str(j, "status.completionTime", "");
		int c;

		if (!name || strncmp(name, prefix, strlen(prefix)) || !phc_job_condition(j, "Complete"))
			continue;
		c = best ? strcmp(t, best_t) : 1;
		if (c > 0 || (c == 0 && name_generation(name) > name_generation(best))) {
			best = name;
			best_t = t;
		}
	}
	return best;
}
