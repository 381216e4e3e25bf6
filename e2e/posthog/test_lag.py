"""Lag autoscaling end to end (issue 16): a backlog produced on bucket 2's
ingestion topic scales only bucket 2's ingestion Deployment, up to at most
the topic's partition count; once a consumer of the bucket's group has
drained and committed it, the Deployment scales down, not before the
scale-down stabilization window has passed.

Needs a Kafka-protocol broker this process and the operator reach, given as
E2E_KAFKA_BOOTSTRAP, with the topics events_plugin_ingestion_0..2 created
with E2E_LAG_PARTITIONS partitions (hack/test.d/62-e2e-lag-kube starts
hack/kafka so). The operator runs from this tree with a short
--lag-poll-interval; the window is the PostHog's
scaleDownStabilizationSeconds (E2E_LAG_WINDOW). Consuming uses Debian's
kcat in the bucket's consumer group (-G), as a plugin-server would.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import test_posthog as base

BOOTSTRAP = os.environ.get("E2E_KAFKA_BOOTSTRAP", "")
NS = os.environ.get("E2E_LAG_NAMESPACE", "e2e-lag")
NAME = "lag"
BUCKETS = 3
PARTITIONS = int(os.environ.get("E2E_LAG_PARTITIONS", "3"))
WINDOW = int(os.environ.get("E2E_LAG_WINDOW", "20"))
POLL = os.environ.get("E2E_LAG_POLL", "2s")
TARGET = 10
BACKLOG = 100  # ceil(100 / 10) = 10 replicas wanted, more than the partitions
PASSWORD = "change-me"


def k(*args, check=True, input=None):
    p = subprocess.run(["kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def get(kind, name, check=True):
    p = k("get", kind, name, "-o", "json", check=check)
    return json.loads(p.stdout) if p.returncode == 0 else None


def manifest():
    brokers = [b for b in BOOTSTRAP.split(",") if b]
    ph = {
        "apiVersion": "posthog.com/v1alpha1", "kind": "PostHog",
        "metadata": {"name": NAME},
        "spec": {
            "version": base.matrix_versions()[-1],
            "postgres": {"urlSecret": {"name": "posthog-app", "key": "database-url"}},
            "redis": {"urlSecret": {"name": "posthog-app", "key": "redis-url"}},
            # what the current row requires (docs/versions.md)
            "secretKey": {"name": "posthog-app", "key": "secret-key"},
            "encryptionSaltKeys": {"name": "posthog-app", "key": "encryption-salt-keys"},
            "zookeeper": {"replicas": 1},
            "kafka": {"external": {"brokers": brokers},
                      "topics": {"partitions": PARTITIONS, "replicationFactor": 1}},
            "clickhouse": {"passwordSecret": {"name": "posthog-clickhouse"}},
            "buckets": {"count": BUCKETS},
            # Starts on CPU (an HPA per bucket); the test moves it to lag.
            "pluginServer": {"ingestion": {"autoscaling": {
                "enabled": True, "minReplicas": 1, "maxReplicas": 10}}},
        },
    }
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "posthog-clickhouse"}, "type": "Opaque",
              "stringData": {"password": PASSWORD}}
    app = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "posthog-app"}, "type": "Opaque",
           "stringData": {"database-url": "postgres://posthog:unused@127.0.0.1:1/posthog",
                          "redis-url": "redis://127.0.0.1:1/",
                          "secret-key": "e2e-secret-key-not-for-production",
                          "encryption-salt-keys": "0123456789abcdef0123456789abcdef"}}
    return [json.dumps(secret), json.dumps(app), json.dumps(ph)]


def ready():
    def ok():
        ph = get("posthog", NAME, check=False)
        c = base.condition(ph, "Ready")
        return (c and c["status"] == "True"
                and ph["status"].get("observedGeneration") == ph["metadata"]["generation"]) and ph
    return base.wait_for("PostHog %s/%s Ready" % (NS, NAME), ok)


def replicas(bucket):
    d = get("deployment", "%s-plugins-ingestion-%d" % (NAME, bucket))
    return d["spec"].get("replicas")


def bucket_status(bucket):
    ph = get("posthog", NAME)
    for b in ph.get("status", {}).get("buckets", []):
        if b["bucket"] == bucket:
            return b
    return {}


def metric(name, **labels):
    url = "http://127.0.0.1:%d/metrics" % base.OPERATOR.metrics_port
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def produce(topic, n):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for i in range(n):
            f.write("1:user-%d\t{\"i\": %d}\n" % (i, i))
        path = f.name
    try:
        subprocess.run(["kcat", "-b", BOOTSTRAP, "-P", "-t", topic, "-K", "\t", "-l", path],
                       check=True, capture_output=True, timeout=120)
    finally:
        os.unlink(path)


def drain(group, topic):
    """Consumes the topic to its end in the group and commits, as the
    bucket's plugin-servers would; returns the number of messages read."""
    p = subprocess.run(
        ["kcat", "-b", BOOTSTRAP, "-G", group, topic, "-e", "-q",
         "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
         "-X", "heartbeat.interval.ms=500", "-X", "auto.commit.interval.ms=100",
         "-f", "%o\n"],
        capture_output=True, text=True, timeout=90)
    return len(p.stdout.splitlines())


@unittest.skipUnless(BOOTSTRAP, "set E2E_KAFKA_BOOTSTRAP to the broker with the bucket topics")
class LagAutoscalingE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["kubectl", "create", "namespace", NS], capture_output=True)
        if base.LOCAL:
            base.OPERATOR.start("--lag-poll-interval", POLL)
        try:
            for doc in manifest():
                k("apply", "-f", "-", input=doc)
        except BaseException:
            if base.LOCAL:
                base.OPERATOR.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        k("delete", "posthog", NAME, "--wait=false", check=False)
        if base.LOCAL:
            base.OPERATOR.stop()

    def test_lag_scales_one_bucket_up_to_partitions_and_down_after_window(self):
        ready()
        name = NAME + "-plugins-ingestion-%d"
        for b in range(BUCKETS):
            self.assertIsNotNone(get("hpa", name % b), "metric cpu: an HPA per bucket")
        # Lag instead of CPU: the HPAs go, the replica count stays.
        k("patch", "posthog", NAME, "--type", "merge", "-p", json.dumps(
            {"spec": {"pluginServer": {"ingestion": {"autoscaling": {
                "metric": "lag", "targetLagPerReplica": TARGET,
                "scaleDownStabilizationSeconds": WINDOW}}}}}))
        for b in range(BUCKETS):
            base.wait_for("HPA %d pruned" % b, lambda b=b: get("hpa", name % b, check=False) is None,
                          timeout=60)
        ready()
        st = base.wait_for("bucket 2 lag read", lambda: (lambda s: s if "messages" in s.get(
            "ingestion", {}).get("lag", {}) else None)(bucket_status(2)), timeout=60)
        self.assertEqual(st["ingestion"]["lag"], {
            "group": "events-ingestion-consumer-2", "topic": "events_plugin_ingestion_2",
            "messages": 0, "partitions": PARTITIONS})
        self.assertEqual([replicas(b) for b in range(BUCKETS)], [1] * BUCKETS)

        # A backlog on bucket 2 only.
        seen = {b: set() for b in range(BUCKETS)}

        def sample():
            for b in range(BUCKETS):
                seen[b].add(replicas(b))
            return seen

        produce("events_plugin_ingestion_2", BACKLOG)
        produced = time.time()
        base.wait_for("bucket 2 scaled up", lambda: sample()[2] and replicas(2) == PARTITIONS,
                      timeout=120, interval=0.5)
        print("\n  bucket 2 ingestion: 1 -> %d replicas %.1fs after a backlog of %d"
              % (PARTITIONS, time.time() - produced, BACKLOG), file=sys.stderr)
        st = bucket_status(2)["ingestion"]
        self.assertEqual(st["lag"]["messages"], BACKLOG)
        self.assertEqual((st["lastScale"]["from"], st["lastScale"]["to"], st["lastScale"]["lag"]),
                         (1, PARTITIONS, BACKLOG))
        self.assertIn("partition count", st["lastScale"]["reason"])
        self.assertEqual(metric("posthog_bucket_consumer_lag", bucket="2", role="ingestion"),
                         BACKLOG)
        self.assertGreaterEqual(metric("posthog_autoscaler_decisions_total", bucket="2",
                                       role="ingestion", direction="up"), 1)
        base.wait_for("ScaledOnLag event", lambda: "ScaledOnLag" in base.event_reasons(NAME, NS),
                      timeout=30)
        # The operator owns the count as its own field manager.
        d = json.loads(k("get", "deployment", name % 2, "-o", "json",
                         "--show-managed-fields").stdout)
        managers = {m["manager"] for m in d["metadata"]["managedFields"]
                    if "f:replicas" in m.get("fieldsV1", {}).get("f:spec", {})}
        self.assertIn("posthog-operator-autoscaler", managers)
        for _ in range(3 * 4):  # a few more reads: never above the partitions
            sample()
            time.sleep(0.5)
        self.assertEqual(max(seen[2]), PARTITIONS)

        # Drain in the bucket's group and commit; then the window must pass.
        self.assertEqual(drain("events-ingestion-consumer-2", "events_plugin_ingestion_2"), BACKLOG)
        drained = time.time()
        base.wait_for("lag 0 in status", lambda: bucket_status(2)["ingestion"]["lag"].get(
            "messages") == 0, timeout=120, interval=0.5)
        base.wait_for("bucket 2 scaled down", lambda: sample()[2] and replicas(2) == 1,
                      timeout=WINDOW + 120, interval=0.5)
        waited = time.time() - drained
        print("  bucket 2 ingestion: %d -> 1 replica %.1fs after the drain (window %ds); "
              "replicas seen: bucket 0 %s, bucket 1 %s, bucket 2 %s"
              % (PARTITIONS, waited, WINDOW, sorted(seen[0]), sorted(seen[1]), sorted(seen[2])),
              file=sys.stderr)
        # The last read that still saw the backlog came at most one poll
        # interval before the drain, and the window counts from it.
        poll_s = float(POLL.rstrip("s"))
        self.assertGreaterEqual(waited, WINDOW - poll_s - 1,
                                "scaled down %.1fs after the drain, window %ds" % (waited, WINDOW))
        st = bucket_status(2)["ingestion"]
        self.assertEqual((st["lastScale"]["from"], st["lastScale"]["to"]), (PARTITIONS, 1))
        self.assertGreaterEqual(metric("posthog_autoscaler_decisions_total", bucket="2",
                                       role="ingestion", direction="down"), 1)
        # Buckets 0 and 1 never moved.
        self.assertEqual(seen[0], {1})
        self.assertEqual(seen[1], {1})
        self.assertEqual(replicas(0), 1)
        self.assertEqual(replicas(1), 1)
