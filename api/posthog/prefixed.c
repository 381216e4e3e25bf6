/*
 * prefixed: PostHog 1.43's Kafka tables fed by prefixed topics, and each
 * bucket's names for its copies. Pure (see prefixed.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "prefixed.h"

/*
 * From PostHog at 1d9c277f8b75 (1.43.0). Topics: the constants of
 * plugin-server/src/config/kafka-topics.ts that the plugin-server produces
 * to (utils/db/utils.ts KAFKA_PERSON; utils/db/db.ts
 * KAFKA_PERSON_DISTINCT_ID, KAFKA_GROUPS, KAFKA_PLUGIN_LOG_ENTRIES;
 * worker/ingestion/process-event.ts KAFKA_SESSION_RECORDING_EVENTS,
 * KAFKA_PERFORMANCE_EVENTS; worker/ingestion/utils.ts
 * KAFKA_EVENTS_DEAD_LETTER_QUEUE, KAFKA_INGESTION_WARNINGS;
 * worker/ingestion/app-metrics.ts KAFKA_APP_METRICS). Tables: the Kafka
 * table reading each topic and its view, in posthog/models/person/sql.py,
 * group/sql.py, session_recording_event/sql.py, performance/sql.py,
 * ingestion_warnings/sql.py, app_metrics/sql.py and
 * posthog/clickhouse/plugin_log_entries.py, dead_letter_queue.py.
 * clickhouse_person_unique_id (kafka_person_distinct_id) is left out: no
 * 1.43 plugin-server code produces to it.
 */
static const struct ph_prefixed_pair pairs[] = {
	{"kafka_person", "person_mv", "clickhouse_person"},
	{"kafka_person_distinct_id2", "person_distinct_id2_mv", "clickhouse_person_distinct_id"},
	{"kafka_groups", "groups_mv", "clickhouse_groups"},
	{"kafka_session_recording_events", "session_recording_events_mv",
	 "clickhouse_session_recording_events"},
	{"kafka_performance_events", "performance_events_mv", "clickhouse_performance_events"},
	{"kafka_plugin_log_entries", "plugin_log_entries_mv", "plugin_log_entries"},
	{"kafka_events_dead_letter_queue", "events_dead_letter_queue_mv", "events_dead_letter_queue"},
	{"kafka_ingestion_warnings", "ingestion_warnings_mv", "clickhouse_ingestion_warnings"},
	{"kafka_app_metrics", "app_metrics_mv", "clickhouse_app_metrics"},
};

const struct ph_prefixed_pair *ph_prefixed_pairs(size_t *n)
{
	*n = sizeof(pairs) / sizeof(pairs[0]);
	return pairs;
}

static bool put(char *dst, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool put(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

int ph_prefixed_bucket(const struct ph_prefixed_pair *p, const struct ph_bucket_names *nm,
		       unsigned index, const char *database, const char *brokers,
		       struct ph_prefixed_names *out, struct ph_schema_bucket *b)
{
	size_t glen, tlen;
	bool ok;

	memset(out, 0, sizeof(*out));
	memset(b, 0, sizeof(*b));
	if (nm) {
		if (!nm->kafka_prefix[0])
			return -EINVAL;
		index = nm->bucket;
	}
	ok = put(out->kafka_table, sizeof(out->kafka_table), "%s_%u", p->kafka_table, index) &&
	     put(out->mv, sizeof(out->mv), "%s_%u", p->mv, index);
	if (ok && nm) {
		/* clickhouse_group is <spec prefix> + kafka_table: the same
		 * spec prefix goes before this pair's table name. */
		glen = strlen(nm->clickhouse_group);
		tlen = strlen(nm->kafka_table);
		ok = glen >= tlen && !strcmp(nm->clickhouse_group + glen - tlen, nm->kafka_table) &&
		     put(out->group, sizeof(out->group), "%.*s%s", (int)(glen - tlen),
			 nm->clickhouse_group, out->kafka_table) &&
		     put(out->topic, sizeof(out->topic), "%s%s", nm->kafka_prefix, p->topic);
	}
	if (!ok)
		return -EINVAL;
	b->database = database;
	b->kafka_table = out->kafka_table;
	b->mv = out->mv;
	b->topic = out->topic;
	b->group = out->group;
	b->brokers = brokers;
	return 0;
}
