-- The base ingestion schema as PostHog's ClickHouse migrations create it
-- (posthog/models/event/sql.py: migrations 0004_kafka and 0025_json_events),
-- adapted to the ClickHouse 18.16 that Debian ships, so that tests can run
-- against a real server. Apply with:  hack/clickhouse sql hack/clickhouse-base-schema.sql
--
-- Differences from PostHog, all forced by 18.16:
--  * DateTime64(6, 'UTC') does not exist before 20.1: DateTime is used.
--  * Column codecs (CODEC(ZSTD(3))) do not exist before 19.1: left out.
--  * JSONExtractRaw does not exist before 19.x: the materialized $group_N,
--    $window_id and $session_id columns use visitParamExtractRaw instead.
--  * Data-skipping indexes (INDEX minmax_... TYPE minmax) do not exist: left out.
--  * kafka_skip_broken_messages was added in 19.1 (ClickHouse PR #4094), so
--    18.16 refuses it ("Unknown setting kafka_skip_broken_messages for storage
--    Kafka"). kafka_num_consumers and kafka_row_delimiter stand in for it, so
--    the tests still show that the Kafka table's settings carry over to each
--    bucket.
--  * sharded_events is a plain ReplacingMergeTree, not the Replicated one:
--    this is a single server without ZooKeeper, and a Replicated engine needs
--    ZooKeeper. Only the data table is affected; the Kafka table and the view
--    that the operator copies are the same either way.
--  * The Kafka engine has no virtual columns before 19.x, so the view
--    selects now() AS _timestamp and toUInt64(0) AS _offset where PostHog
--    selects the virtual _timestamp and _offset.
--  * No ON CLUSTER: 18.16 runs distributed DDL only through ZooKeeper. The
--    Distributed tables name the one-shard cluster 'posthog' that
--    hack/clickhouse writes into the server config.
--  * cityHash64 takes no UUID argument in 18.16 ("Unexpected type UUID of
--    argument of function cityHash64" on the first insert), so the sorting
--    key hashes toString(uuid) where PostHog hashes uuid. The key stays one
--    row per event for ReplacingMergeTree; only the hash values differ.
--  * person_mode is not here: hack/clickhouse-migration-add-column.sql adds
--    it, as PostHog's own migration did, so that tests can show the
--    per-bucket tables following a schema change.

CREATE DATABASE IF NOT EXISTS posthog;

CREATE TABLE IF NOT EXISTS posthog.sharded_events
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
    group4_created_at DateTime
    , `$group_0` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$group_0'), '^"|"$', '')
    , `$group_1` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$group_1'), '^"|"$', '')
    , `$group_2` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$group_2'), '^"|"$', '')
    , `$group_3` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$group_3'), '^"|"$', '')
    , `$group_4` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$group_4'), '^"|"$', '')
    , `$window_id` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$window_id'), '^"|"$', '')
    , `$session_id` VARCHAR MATERIALIZED replaceRegexpAll(visitParamExtractRaw(properties, '$session_id'), '^"|"$', '')
    , _timestamp DateTime
    , _offset UInt64
    , inserted_at Nullable(DateTime) DEFAULT now()
) ENGINE = ReplacingMergeTree(_timestamp)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id), cityHash64(toString(uuid)))
SAMPLE BY cityHash64(distinct_id);

-- The write path: the materialized views insert here.
CREATE TABLE IF NOT EXISTS posthog.writable_events
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
    group4_created_at DateTime
    , _timestamp DateTime
    , _offset UInt64
) ENGINE = Distributed('posthog', 'posthog', 'sharded_events', sipHash64(distinct_id));

-- The read path.
CREATE TABLE IF NOT EXISTS posthog.events
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
    group4_created_at DateTime
    , _timestamp DateTime
    , _offset UInt64
    , inserted_at Nullable(DateTime)
    , `$group_0` VARCHAR
    , `$group_1` VARCHAR
    , `$group_2` VARCHAR
    , `$group_3` VARCHAR
    , `$group_4` VARCHAR
    , `$window_id` VARCHAR
    , `$session_id` VARCHAR
) ENGINE = Distributed('posthog', 'posthog', 'sharded_events', sipHash64(distinct_id));

-- No broker needs to answer: the Kafka engine connects lazily, when the
-- view attached to it starts streaming, and only logs while it cannot.
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
    group4_created_at DateTime
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
now() AS _timestamp,
toUInt64(0) AS _offset
FROM posthog.kafka_events_json;
