-- A second migration step, as PostHog ships them: a new column on the
-- events tables, then the Kafka table and its view recreated with it
-- (PostHog added person_mode this way). Apply after
-- hack/clickhouse-base-schema.sql:
--   hack/clickhouse sql hack/clickhouse-migration-add-column.sql
-- 18.16 has no ADD COLUMN IF NOT EXISTS, so this step runs once.

ALTER TABLE posthog.sharded_events ADD COLUMN person_mode Enum8('full' = 0, 'propertyless' = 1, 'force_upgrade' = 2) AFTER group4_created_at;
ALTER TABLE posthog.writable_events ADD COLUMN person_mode Enum8('full' = 0, 'propertyless' = 1, 'force_upgrade' = 2) AFTER group4_created_at;
ALTER TABLE posthog.events ADD COLUMN person_mode Enum8('full' = 0, 'propertyless' = 1, 'force_upgrade' = 2) AFTER group4_created_at;

-- The view first, so nothing reads the Kafka table while it is replaced.
DROP TABLE IF EXISTS posthog.events_json_mv;
DROP TABLE IF EXISTS posthog.kafka_events_json;

CREATE TABLE IF NOT EXISTS posthog.kafka_events_json
(
    uuid UUID,
    event VARCHAR,
    properties VARCHAR,
    timestamp DateTime,
    team_id Int64,
    distinct_id VARCHAR,
    elements_chain VARCHAR,
    created_at DateTime,
    person_id UUID,
    person_created_at DateTime,
    person_properties VARCHAR,
    group0_properties VARCHAR,
    group1_properties VARCHAR,
    group2_properties VARCHAR,
    group3_properties VARCHAR,
    group4_properties VARCHAR,
    group0_created_at DateTime,
    group1_created_at DateTime,
    group2_created_at DateTime,
    group3_created_at DateTime,
    group4_created_at DateTime,
    person_mode Enum8('full' = 0, 'propertyless' = 1, 'force_upgrade' = 2)
) ENGINE = Kafka('kafka:9092', 'clickhouse_events_json', 'group1', 'JSONEachRow')
SETTINGS kafka_row_delimiter = '\n', kafka_num_consumers = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS posthog.events_json_mv
TO posthog.writable_events
AS SELECT
uuid,
event,
properties,
timestamp,
team_id,
distinct_id,
elements_chain,
created_at,
person_id,
person_created_at,
person_properties,
group0_properties,
group1_properties,
group2_properties,
group3_properties,
group4_properties,
group0_created_at,
group1_created_at,
group2_created_at,
group3_created_at,
group4_created_at,
person_mode,
now() AS _timestamp,
toUInt64(0) AS _offset
FROM posthog.kafka_events_json;
