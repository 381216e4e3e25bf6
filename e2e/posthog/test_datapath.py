"""The ingestion data path, end to end: JSON events produced to every
bucket's `clickhouse_events_json_N` topic on a Kafka-protocol broker reach
PostHog's `events` table in a real ClickHouse, through the per-bucket Kafka
tables and materialized views that the operator created. No event may be
lost and none counted twice.

Needs a broker that both this process (it produces with kcat) and the
ClickHouse server can reach, given as E2E_KAFKA_BOOTSTRAP (host:port,...).
hack/test.d/60-e2e-posthog starts one with hack/kafka, with the bucket
topics created beforehand. Without E2E_KAFKA_BOOTSTRAP the case is skipped.

The PostHog lives in its own namespace (E2E_DATAPATH_NAMESPACE, default
e2e-datapath) with spec.kafka.external.brokers set to the bootstrap list.
It shares ClickHouse's `posthog` database with any other PostHog there, so
run it when no other PostHog uses that ClickHouse (60-e2e-posthog runs it
after test_posthog, whose last case deletes its PostHog).
"""
import json
import urllib.error
import os
import subprocess
import tempfile
import time
import unittest
import uuid

import test_posthog as base

BOOTSTRAP = os.environ.get("E2E_KAFKA_BOOTSTRAP", "")
NS = os.environ.get("E2E_DATAPATH_NAMESPACE", "e2e-datapath")
NAME = "datapath"
BUCKETS = int(os.environ.get("E2E_DATAPATH_BUCKETS", "3"))
PER_BUCKET = int(os.environ.get("E2E_DATAPATH_EVENTS", "200"))
# The Kafka engine of 18.16 flushes a block every stream_flush_interval_ms
# (7.5 s by default); a Distributed insert reaches the shard asynchronously.
ARRIVAL_TIMEOUT = float(os.environ.get("E2E_DATAPATH_TIMEOUT", "180"))
# Time allowed after the last event arrived for a duplicate to show up.
SETTLE = float(os.environ.get("E2E_DATAPATH_SETTLE", "15"))

# The columns of PostHog's kafka_events_json (posthog/models/event/sql.py,
# KAFKA_EVENTS_TABLE_JSON_SQL, as in hack/clickhouse-base-schema.sql). A
# column the table has but the message lacks takes its default; a field the
# table lacks would be refused by 18.16, so only these are sent.
PASSWORD = os.environ.get("E2E_CLICKHOUSE_PASSWORD", "change-me")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def k(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def manifest():
    brokers = [b for b in BOOTSTRAP.split(",") if b]
    ph = {
        "apiVersion": "posthog.com/v1alpha1", "kind": "PostHog",
        "metadata": {"name": NAME},
        "spec": {
            # the current row of the version matrix (Env routing)
            "version": base.matrix_versions()[-1],
            "postgres": {"urlSecret": {"name": "posthog-app", "key": "database-url"}},
            "redis": {"urlSecret": {"name": "posthog-app", "key": "redis-url"}},
            "secretKey": {"name": "posthog-app", "key": "secret-key"},
            "encryptionSaltKeys": {"name": "posthog-app", "key": "encryption-salt-keys"},
            "zookeeper": {"replicas": 1},
            "kafka": {"external": {"brokers": brokers},
                      "topics": {"partitions": 2, "replicationFactor": min(3, len(brokers))}},
            "clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}},
            "buckets": {"count": BUCKETS},
        },
    }
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "posthog-clickhouse"}, "type": "Opaque",
              "stringData": {"password": PASSWORD}}
    # The URLs only reach the (simulated) plugin-servers and migrate Job.
    app = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "posthog-app"}, "type": "Opaque",
           "stringData": {"database-url": "postgres://posthog:unused@127.0.0.1:1/posthog",
                          "redis-url": "redis://127.0.0.1:1/",
                          "secret-key": "e2e-secret-key-not-for-production",
                          "encryption-salt-keys": "0123456789abcdef0123456789abcdef"}}
    return [json.dumps(secret), json.dumps(app), json.dumps(ph)]


def ready():
    def ok():
        p = k("get", "posthog", NAME, "-o", "json", check=False)
        if p.returncode != 0:
            return None
        ph = json.loads(p.stdout)
        c = base.condition(ph, "Ready")
        return (c and c["status"] == "True"
                and ph["status"].get("observedGeneration") == ph["metadata"]["generation"]) and ph
    return base.wait_for("PostHog %s/%s Ready" % (NS, NAME), ok)


def clickhouse(sql):
    """Runs a query on the local ClickHouse, or in this PostHog's first
    running ClickHouse pod on a real cluster."""
    if base.LOCAL:
        return base.clickhouse(sql)
    pods = json.loads(k("get", "pods", "-o", "json", "-l",
                        "app.kubernetes.io/name=clickhouse,app.kubernetes.io/instance=" + NAME).stdout)
    running = [p["metadata"]["name"] for p in pods["items"]
               if p.get("status", {}).get("phase") == "Running"]
    if not running:
        raise AssertionError("no running ClickHouse pod of %s/%s" % (NS, NAME))
    return k("exec", "-i", running[0], "--", "clickhouse-client", "--user", "admin",
             "--password", PASSWORD, "--multiquery", input=sql).stdout


def kafka_table(bucket):
    """The bucket's Kafka table definition as the server prints it ("" when
    missing). JSON, since TabSeparated escapes its quotes."""
    try:
        out = clickhouse(
            "SELECT create_table_query FROM system.tables WHERE database = 'posthog' "
            "AND name = 'kafka_events_json_%d' FORMAT JSONEachRow" % bucket).strip()
    except urllib.error.HTTPError as e:
        # ClickHouse 18.16 answers UNKNOWN_TABLE (HTTP 404) when a table is
        # dropped while system.tables is read: the operator is recreating
        # the bucket tables, which is what the caller polls for.
        if e.code != 404:
            raise
        return ""
    return json.loads(out)["create_table_query"] if out else ""


def event(run, bucket, i):
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    team = 1000 + bucket
    row = {
        "uuid": str(uuid.uuid4()), "event": run, "team_id": team,
        "distinct_id": "user-%d-%d" % (bucket, i),
        "properties": json.dumps({"bucket": bucket, "i": i, "$session_id": "s%d" % i}),
        "timestamp": now, "created_at": now, "elements_chain": "",
        "person_id": ZERO_UUID, "person_created_at": now, "person_properties": "{}",
    }
    for g in range(5):
        row["group%d_properties" % g] = ""
        row["group%d_created_at" % g] = now
    return row


def produce(topic, rows):
    """Produces the rows as JSON, keyed as PostHog keys them
    (<team_id>:<distinct_id>), with Debian's kcat."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in rows:
            f.write("%d:%s\t%s\n" % (r["team_id"], r["distinct_id"], json.dumps(r)))
        path = f.name
    try:
        subprocess.run(["kcat", "-b", BOOTSTRAP, "-P", "-t", topic, "-K", "\t", "-l", path],
                       check=True, capture_output=True, timeout=120)
    finally:
        os.unlink(path)


def counts(run):
    """uuid -> rows in events, for this run's events."""
    out = clickhouse(
        "SELECT toString(uuid), count() FROM posthog.events WHERE event = '%s' "
        "GROUP BY uuid FORMAT TabSeparated" % run)
    return {u: int(n) for u, n in (line.split("\t") for line in out.splitlines() if line)}


@unittest.skipUnless(BOOTSTRAP, "set E2E_KAFKA_BOOTSTRAP to a broker that ClickHouse can reach")
class DataPathE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
        if base.LOCAL:
            base.OPERATOR.start()
        try:
            for doc in manifest():
                k("apply", "-f", "-", input=doc)
        except BaseException:
            # tearDownClass does not run when setUpClass fails.
            if base.LOCAL:
                base.OPERATOR.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        # Merges were stopped so that a duplicate stays visible; whatever
        # happened, they run again afterwards.
        try:
            clickhouse("SYSTEM START MERGES posthog.sharded_events")
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        k("delete", "posthog", NAME, "--wait=false", check=False)
        if base.LOCAL:
            base.OPERATOR.stop()

    RUN = "e2e-datapath-%s" % uuid.uuid4().hex[:12]
    SENT = {}  # uuid -> bucket, over both cases

    def wait_tables_on(self, brokers):
        """Waits until every bucket's Kafka table reads its topic from
        exactly this broker list."""
        for b in range(BUCKETS):
            want = "'%s'" % brokers
            ddl = base.wait_for("kafka_events_json_%d on %s" % (b, brokers),
                                lambda b=b: (lambda d: d if want in d else None)(kafka_table(b)),
                                timeout=90)
            self.assertIn("clickhouse_events_json_%d" % b, ddl)

    def produce_batch(self):
        for b in range(BUCKETS):
            rows = [event(self.RUN, b, len(self.SENT) + i) for i in range(PER_BUCKET)]
            produce("clickhouse_events_json_%d" % b, rows)
            self.SENT.update({r["uuid"]: b for r in rows})

    def assert_each_once(self):
        """Every event sent so far is in posthog.events exactly once."""
        total = len(self.SENT)
        t0 = time.time()
        base.wait_for("%d events in posthog.events" % total,
                      lambda: len(counts(self.RUN)) >= total or None,
                      timeout=ARRIVAL_TIMEOUT, interval=2)
        arrived = time.time() - t0
        time.sleep(SETTLE)
        got = counts(self.RUN)
        print("\n  %d events over %d buckets arrived in %.1fs; %d distinct, %d rows"
              % (total, BUCKETS, arrived, len(got), sum(got.values())))
        self.assertEqual(set(got) - set(self.SENT), set(), "events nobody sent")
        self.assertEqual(set(self.SENT) - set(got), set(), "events lost")
        doubled = {u: n for u, n in got.items() if n != 1}
        self.assertEqual(doubled, {}, "events counted more than once")
        # Each bucket's events came through (one team per bucket's topic).
        per_team = clickhouse(
            "SELECT team_id, count() FROM posthog.events WHERE event = '%s' "
            "GROUP BY team_id ORDER BY team_id FORMAT TabSeparated" % self.RUN)
        want = {b: 0 for b in range(BUCKETS)}
        for b in self.SENT.values():
            want[b] += 1
        self.assertEqual(per_team.split(),
                         [x for b in range(BUCKETS) for x in (str(1000 + b), str(want[b]))])

    def test_1_events_reach_the_events_table_once(self):
        ready()
        self.wait_tables_on(BOOTSTRAP)
        # sharded_events is a ReplacingMergeTree: a background merge would
        # fold a doubled row into one and hide it. No merges while we count.
        clickhouse("SYSTEM STOP MERGES posthog.sharded_events")
        self.produce_batch()
        self.assertEqual(len(self.SENT), BUCKETS * PER_BUCKET)
        self.assert_each_once()

    def test_2_recreated_tables_resume_at_committed_offsets(self):
        """A changed broker list makes the operator drop and recreate every
        bucket's view and Kafka table (docs/clickhouse.md). The consumer
        group is the same, so the new tables resume at the offsets the old
        ones committed: the first batch is not read again (that would
        double it, as a new group starts at the earliest offset here), and
        the second batch is read once."""
        if not self.SENT:
            self.skipTest("needs the first case's events")
        brokers = [b for b in BOOTSTRAP.split(",") if b]
        if len(brokers) < 2:
            self.skipTest("needs two brokers to reorder the list")
        reordered = ",".join(reversed(brokers))
        k("patch", "posthog", NAME, "--type", "merge", "-p",
          json.dumps({"spec": {"kafka": {"external": {"brokers": list(reversed(brokers))}}}}))
        self.wait_tables_on(reordered)
        ready()
        self.produce_batch()
        self.assertEqual(len(self.SENT), 2 * BUCKETS * PER_BUCKET)
        self.assert_each_once()


if __name__ == "__main__":
    unittest.main(verbosity=2)
