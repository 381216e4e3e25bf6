#!/usr/bin/env python3
"""Integration tests of `posthog-operator route` against a Kafka-protocol
broker (hack/kafka: librdkafka's mock cluster) and a real PostgreSQL
(hack/postgres). hack/test.d/27-router starts both and runs this with
KAFKA_BOOTSTRAP, DATABASE_URL, ROUTER_BIN and WORK set.

Phases (each on its own topics, consumer groups and map file):
  volume   a million messages from 50 teams, with pins: every message in
           its team's bucket topic, counted per bucket and per team;
  kill     kill -9 of the router five times while messages stream in: every
           message arrives at least once, first arrivals in order per key;
  move     the bucket count goes 2 -> 3 mid-stream: moved teams are held
           while the old buckets' consumers are behind, then arrive in order;
  bad      invalid JSON, no token, too large, unknown token -> fallback
           bucket unchanged and counted; a token added to Postgres later is
           looked up; an unparseable map keeps the last good one.

The mock broker keeps about 5 MB per partition (older messages are
deleted), so the topics are created with enough partitions for the data
each phase leaves in them.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

BOOT = os.environ.get("KAFKA_BOOTSTRAP")
ROUTER = os.environ.get("ROUTER_BIN")
WORK = os.environ.get("WORK")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
M64 = (1 << 64) - 1
FAILS = []

# Topics this script needs, with partition counts; hack/test.d/27-router
# passes them to `hack/kafka up` (the mock cluster takes topics at start).
TOPICS = (
    [("a_src", 64)] + [("a_bucket_%d" % b, 16) for b in range(4)]
    + [("b_src", 64)] + [("b_bucket_%d" % b, 8) for b in range(4)]
    + [("c_src", 8)] + [("c_bucket_%d" % b, 8) for b in range(3)]
    + [("d_src", 1)] + [("d_bucket_%d" % b, 1) for b in range(2)]
)


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""),
          flush=True)
    if not ok:
        FAILS.append(name)


# The assignment of docs/buckets.md, written again here from the document
# (not from the C code) so that the two are checked against each other.
def splitmix64(t):
    z = (t + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def jump(key, n):
    b, j = -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & M64
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def bucket_of(team, count, pins):
    return pins.get(team, jump(splitmix64(team & M64), count))


def write_map(path, prefix, count, pins, group_fmt):
    doc = {
        "version": 1, "algorithm": "JumpHash",
        "parameters": {
            "teamHash": "splitmix64", "splitmix64Gamma": "0x9e3779b97f4a7c15",
            "splitmix64Mul1": "0xbf58476d1ce4e5b9", "splitmix64Mul2": "0x94d049bb133111eb",
            "jumpMultiplier": "2862933555777941757",
        },
        "buckets": count,
        "pins": {str(t): b for t, b in pins.items()},
        "topics": [{"bucket": b, "ingestionTopic": "%s%d" % (prefix, b),
                    "ingestionGroup": group_fmt % b} for b in range(count)],
    }
    write_atomic(path, json.dumps(doc, indent=1))


def write_atomic(path, text):
    # As the kubelet updates a ConfigMap volume: a new file, then a rename.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def psql(sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"))


def produce(topic, lines, headers=()):
    """lines: (key, value) pairs; tabs and newlines must not occur."""
    path = os.path.join(WORK, "produce-%s-%d" % (topic, random.randrange(1 << 30)))
    with open(path, "w") as f:
        for k, v in lines:
            f.write("%s\t%s\n" % (k, v))
    cmd = ["kcat", "-b", BOOT, "-P", "-t", topic, "-K", "\t", "-l", path]
    for h in headers:
        cmd += ["-H", h]
    subprocess.run(cmd, check=True)
    os.unlink(path)


def consume(topic):
    """Every message of topic as (partition, offset, key, timestamp, headers, value)."""
    out = subprocess.run(
        ["kcat", "-b", BOOT, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
         "-f", "%p\t%o\t%k\t%T\t%h\t%s\n"],
        check=True, stdout=subprocess.PIPE, timeout=300).stdout.decode()
    msgs = []
    for line in out.split("\n"):
        if line:
            p, o, k, ts, h, v = line.split("\t", 5)
            msgs.append((int(p), int(o), k, int(ts), h, v))
    msgs.sort(key=lambda m: (m[0], m[1]))
    return msgs


class Follower:
    """A kcat consumer that follows a topic from its start into a file, so
    that messages are read before the mock broker's retention drops them."""

    def __init__(self, topic):
        self.topic = topic
        self.path = os.path.join(WORK, "follow-%s" % topic)
        self.proc = subprocess.Popen(
            ["kcat", "-b", BOOT, "-C", "-t", topic, "-o", "beginning", "-q", "-u",
             "-f", "%p\t%o\t%k\t%T\t%h\t%s\n"],
            stdout=open(self.path, "w"), stderr=subprocess.DEVNULL)

    def count(self):
        with open(self.path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def stop(self):
        """Stops and returns the messages read, in (partition, offset) order,
        once per offset."""
        self.proc.terminate()
        self.proc.wait()
        msgs = {}
        with open(self.path) as f:
            for line in f:
                if line.endswith("\n"):
                    p, o, k, ts, h, v = line[:-1].split("\t", 5)
                    msgs[(int(p), int(o))] = (int(p), int(o), k, int(ts), h, v)
        return [msgs[po] for po in sorted(msgs)]


def follow_until(followers, topics_partitions, timeout=120):
    """Waits until the followers have read up to every topic's high watermark."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(f.count() >= high_watermark_sum(f.topic, n)
               for f, n in zip(followers, topics_partitions)):
            return True
        time.sleep(0.5)
    return False


def committed_sum(group, topic):
    """The sum of group's committed offsets on topic (hack/kafka
    committed), or None without KAFKA_DIR."""
    if not os.environ.get("KAFKA_DIR"):
        return None
    out = subprocess.run([os.path.join(TOP, "hack", "kafka"), "committed", group, topic,
                          "--dir", os.environ["KAFKA_DIR"]],
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    return sum(max(0, int(line.split()[1])) for line in out.splitlines() if line.strip())


def high_watermark_sum(topic, partitions):
    args = ["kcat", "-b", BOOT, "-Q"]
    for p in range(partitions):
        args += ["-t", "%s:%d:-1" % (topic, p)]
    out = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout.decode()
    return sum(max(0, int(x)) for x in re.findall(r"offset (-?\d+)", out))


class Router:
    def __init__(self, name, *args):
        self.name, self.args, self.proc, self.starts = name, args, None, 0
        self.last_routed = 0

    def start(self):
        self.starts += 1
        self.log = os.path.join(WORK, "%s-%d.log" % (self.name, self.starts))
        self.proc = subprocess.Popen(
            [ROUTER, "route", "--kafka-bootstrap-servers", BOOT,
             "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0",
             "--log-format", "text"] + list(self.args),
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        self.mport = self.hport = None
        deadline = time.time() + 30
        while time.time() < deadline and not (self.mport and self.hport):
            text = open(self.log).read()
            m = re.search(r"/metrics on port (\d+)", text)
            h = re.search(r"/healthz and /readyz on port (\d+)", text)
            self.mport = m and int(m.group(1))
            self.hport = h and int(h.group(1))
            time.sleep(0.05)
        if not (self.mport and self.hport):
            raise RuntimeError("%s did not start:\n%s" % (self.name, open(self.log).read()))

    def get(self, port, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def metrics(self):
        vals = {}
        for line in self.get(self.mport, "/metrics")[1].split("\n"):
            if line and not line.startswith("#"):
                name, v = line.rsplit(" ", 1)
                vals[name] = float(v)
        return vals

    def metric_sum(self, prefix):
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def routed(self):
        self.last_routed = self.metric_sum("posthog_router_messages_routed_total")
        return self.last_routed

    def wait(self, what, cond, timeout=120, every=0.2):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%d) waiting for %s:\n%s" % (
                    self.name, self.proc.returncode, what, open(self.log).read()[-3000:]))
            time.sleep(every)
        print("timed out waiting for %s" % what, flush=True)
        return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def teams_for(phase, n, first_id, step):
    return [(first_id + step * i, "phc_%s%02d_%s" % (phase, i, "x" * 12)) for i in range(n)]


def add_teams(teams):
    psql("INSERT INTO posthog_team (id, api_token, name) VALUES %s" % ",".join(
        "(%d, '%s', 'team %d')" % (t, tok, t) for t, tok in teams))


def messages(teams, n, first_seq=0, ids_per_team=20):
    """n messages round-robin over teams and their distinct ids; key
    token:distinct_id as capture writes it, seq counting per key."""
    out, seq_of_key = [], {}
    for i in range(first_seq, first_seq + n):
        team, tok = teams[i % len(teams)]
        did = "d%d" % ((i // len(teams)) % ids_per_team)
        key = "%s:%s" % (tok, did)
        out.append((key, '{"uuid":"u%d","distinct_id":"%s","token":"%s","data":"{\\"event\\":\\"$pageview\\"}",'
                         '"now":"2026-12-01T00:00:00Z","seq":%d}' % (i, did, tok, i)))
    return out


def seq_of(value):
    return int(value[value.rindex('"seq":') + 6:-1])


def token_of(key):
    return key.split(":", 1)[0]


def phase_volume():
    print("--- volume: 1 000 000 messages, 50 teams, 4 buckets with pins", flush=True)
    teams = teams_for("a", 50, 1000, 7)
    add_teams(teams)
    pins = {teams[0][0]: 3, teams[1][0]: 3, teams[2][0]: 0}
    path = os.path.join(WORK, "a-buckets.json")
    write_map(path, "a_bucket_", 4, pins, "a-consumer-%d")
    total = 1000000
    followers = [Follower("a_bucket_%d" % b) for b in range(4)]
    r = Router("a", "--source-topic", "a_src", "--group", "a-router", "--bucket-map", path)
    r.start()
    r.wait("assignment", lambda: any(k.startswith("posthog_router_consumer_lag") for k in r.metrics()))
    t0 = time.time()
    msgs = messages(teams, total)
    for c in range(0, total, 100000):
        # Keep the router within a chunk of the producer: the mock broker
        # keeps only about 5 MB per partition.
        r.wait("routing", lambda: r.routed() >= c - 100000, timeout=120, every=0.2)
        produce("a_src", msgs[c:c + 100000])
    del msgs
    done = r.wait("1e6 routed", lambda: r.routed() >= total, timeout=300, every=1)
    print("produced and routed in %.1fs" % (time.time() - t0), flush=True)
    check("volume: followers read every bucket topic", follow_until(followers, [16] * 4))
    check("volume: the router acknowledged 1e6 messages", done and r.routed() == total,
          "%d" % r.routed())
    m = r.metrics()
    check("volume: no fallback", r.metric_sum("posthog_router_fallback_messages_total") == 0)
    last_ts = m.get("posthog_router_last_delivery_timestamp_seconds", 0)
    check("volume: the last delivery's time is within the run", t0 <= last_ts <= time.time(),
          "%.3f not in [%.3f, now]" % (last_ts, t0))
    check("volume: stops cleanly", r.stop() == 0)

    team_of = {tok: t for t, tok in teams}
    want_bucket = {tok: bucket_of(t, 4, pins) for t, tok in teams}
    per_bucket, per_team, wrong, disorder = [0] * 4, {}, 0, 0
    last = {}
    for b in range(4):
        for p, o, k, ts, h, v in followers[b].stop():
            tok = token_of(k)
            per_bucket[b] += 1
            per_team[tok] = per_team.get(tok, 0) + 1
            wrong += want_bucket.get(tok) != b
            s = seq_of(v)
            disorder += s <= last.get(k, -1)
            last[k] = s
    want_per_bucket = [0] * 4
    for tok in team_of:
        want_per_bucket[want_bucket[tok]] += total // len(teams)
    print("per bucket: %s (want %s)" % (per_bucket, want_per_bucket), flush=True)
    check("volume: every message in its team's bucket", wrong == 0, "%d misplaced" % wrong)
    check("volume: count per bucket", per_bucket == want_per_bucket)
    check("volume: count per team (20 000 each)",
          all(per_team.get(tok) == total // len(teams) for tok in team_of),
          str(sorted(set(per_team.values()))))
    check("volume: the metric per bucket matches",
          all(m.get('posthog_router_messages_routed_total{bucket="%d"}' % b, 0) == per_bucket[b]
              for b in range(4)))
    check("volume: pinned teams in their pinned buckets",
          want_bucket[teams[0][1]] == 3 and want_bucket[teams[2][1]] == 0 and per_team[teams[0][1]] > 0)
    check("volume: order per key", disorder == 0, "%d out of order" % disorder)


def phase_kill():
    print("--- kill: kill -9 five times mid-stream", flush=True)
    teams = teams_for("b", 20, 5000, 3)
    add_teams(teams)
    path = os.path.join(WORK, "b-buckets.json")
    write_map(path, "b_bucket_", 4, {}, "b-consumer-%d")
    # The stream flows until the fifth kill, so that every kill is
    # mid-stream: a fixed stream could end before the last restarts on
    # a quiet machine, where one router catches up with all of it.
    per, min_chunks, max_chunks = 5000, 10, 200
    kills_done = threading.Event()
    produced = [0]
    followers = [Follower("b_bucket_%d" % b) for b in range(4)]
    # A killed member leaves the group only when its session times out;
    # a short one keeps the restarts quick.
    r = Router("b", "--source-topic", "b_src", "--group", "b-router", "--bucket-map", path,
               "--kafka-conf", "session.timeout.ms=3000", "--kafka-conf", "heartbeat.interval.ms=300")

    def feed():
        for c in range(max_chunks):
            if c >= min_chunks and kills_done.is_set():
                break
            produce("b_src", messages(teams, per, c * per, ids_per_team=10))
            produced[0] += per
            time.sleep(0.5)
    feeder = threading.Thread(target=feed)
    feeder.start()
    kills, grew, moving = 0, 0, 0
    before = committed_sum("b-router", "b_src")
    for i in range(5):
        r.start()
        # Kill it once it is moving messages, at a random point after.
        moving += r.wait("progress", lambda: r.routed() > 0, timeout=60, every=0.05)
        if i == 2 and before is not None:
            # The third waits for a commit first (every second), so that
            # the next start resumes from a committed offset rather than
            # from where the group began. Only one, to keep the phase
            # short. A router that has caught up with the source has
            # nothing more to commit.
            def committed_more(before=before):
                now = committed_sum("b-router", "b_src")
                return now > before or now >= high_watermark_sum("b_src", 64)
            r.wait("a commit", committed_more, timeout=30, every=0.2)
        time.sleep(random.uniform(0.05, 0.6))
        r.kill9()
        kills += 1
        # What the killed router had committed: it stores an offset only
        # once every message before it is acknowledged.
        after = committed_sum("b-router", "b_src")
        grew += after is not None and after > before
        print("kill: after kill %d the group had committed %s; %d routed by that router"
              % (kills, after, r.last_routed), flush=True)
        before = after
    streaming = feeder.is_alive()
    kills_done.set()
    check("kill: a restart resumed from offsets the group had committed",
          before is None or grew >= 1, "the committed offsets never moved between kills")
    check("kill: each of the five routers was routing when killed", moving == 5,
          "%d of 5 routed anything" % moving)
    check("kill: the stream was still flowing at the fifth kill", streaming,
          "the feeder stopped after %d chunks" % max_chunks)
    feeder.join()
    total = produced[0]
    print("kill: %d source messages in all" % total, flush=True)
    committed = committed_sum("b-router", "b_src")
    print("kill: before the last start the group had committed %s of %d source messages"
          % (committed, high_watermark_sum("b_src", 64)), flush=True)
    r.start()
    # Caught up: a lag series for every source partition, each 0, nothing
    # pending, and the group's committed offsets (what the router stores
    # only once acknowledged) at the source's end. A lag of 0 alone is
    # not enough: a partition not fetched yet has no series.
    source_end = high_watermark_sum("b_src", 64)

    def caught_up():
        m = r.metrics()
        lags = [v for k, v in m.items() if k.startswith("posthog_router_consumer_lag_messages{")]
        return (len(lags) == 64 and sum(lags) == 0
                and m.get("posthog_router_pending_messages", 1) == 0
                and committed_sum("b-router", "b_src") in (None, source_end))
    settled = r.wait("all consumed and committed", caught_up, timeout=180, every=0.5)
    if not settled:
        m = r.metrics()
        lags = {k: v for k, v in m.items() if k.startswith("posthog_router_consumer_lag_messages{")}
        print("kill: %d lag series (want 64), lag sum %d, nonzero %s; pending %s; committed %s of %d"
              % (len(lags), sum(lags.values()), {k: v for k, v in lags.items() if v},
                 m.get("posthog_router_pending_messages"),
                 committed_sum("b-router", "b_src"), source_end), flush=True)
        print("kill: the last router's log ends:\n%s" % open(r.log).read()[-3000:], flush=True)
    check("kill: router killed 5 times, then caught up", kills == 5 and settled)
    check("kill: stops cleanly", r.stop() == 0)
    check("kill: followers read every bucket topic", follow_until(followers, [8] * 4))
    seen, first_order_bad, dups, n = {}, 0, 0, 0
    for b in range(4):
        last_first = {}
        for p, o, k, ts, h, v in followers[b].stop():
            s = seq_of(v)
            n += 1
            if s in seen:
                dups += 1
                continue
            seen[s] = k
            # a first arrival must come after every earlier first arrival of its key
            if s < last_first.get(k, -1):
                first_order_bad += 1
            last_first[k] = s
    missing = total - len(seen)
    print("kill: %d messages out, %d distinct, %d duplicates" % (n, len(seen), dups), flush=True)
    check("kill: none lost (every seq at least once)", missing == 0 and set(seen) == set(range(total)),
          "%d missing" % missing)
    if missing:
        src = consume("b_src")
        by_part = {}
        for p, o, k, ts, h, v in src:
            if seq_of(v) not in seen:
                by_part.setdefault(p, []).append(o)
        print("source messages: %d; missing by source partition: %s" % (len(src), {
            p: (len(os_), min(os_), max(os_)) for p, os_ in sorted(by_part.items())}))
    check("kill: order per key by sequence number", first_order_bad == 0,
          "%d out of order" % first_order_bad)


def phase_move():
    print("--- move: 2 -> 3 buckets mid-stream", flush=True)
    teams = teams_for("c", 30, 7000, 11)
    add_teams(teams)
    path = os.path.join(WORK, "c-buckets.json")
    write_map(path, "c_bucket_", 2, {}, "c-consumer-%d")
    r = Router("c", "--source-topic", "c_src", "--group", "c-router", "--bucket-map", path,
               "--map-check-interval", "200ms", "--hold-check-interval", "200ms")
    followers = [Follower("c_bucket_%d" % b) for b in range(3)]
    r.start()
    half = 40000
    produce("c_src", messages(teams, half))
    check("move: first half routed", r.wait("first half", lambda: r.routed() >= half))
    moved = {tok for t, tok in teams if jump(splitmix64(t), 2) != jump(splitmix64(t), 3)}
    check("move: some teams move (jump hash)", 0 < len(moved) < len(teams), str(len(moved)))
    write_map(path, "c_bucket_", 3, {}, "c-consumer-%d")
    check("move: the router saw the change",
          r.wait("move", lambda: r.metrics().get("posthog_router_bucket_moves_total", 0) >= 1))
    produce("c_src", messages(teams, half, half))
    # The old buckets' consumers have not read anything: moved teams wait.
    held = r.wait("held", lambda: r.metrics().get("posthog_router_held_messages", 0) > 0, timeout=30)
    not_moved = half + sum(1 for k, v in messages(teams, half, half) if token_of(k) not in moved)
    r.wait("unmoved routed", lambda: r.routed() >= not_moved, timeout=60)
    time.sleep(2)
    check("move: moved teams held while the old consumers lag", held)
    early = high_watermark_sum("c_bucket_2", 8)
    check("move: nothing in the new bucket yet", early == 0, "%d messages" % early)
    # Now the old buckets' consumers read and commit.
    consumers = [subprocess.Popen(
        ["kcat", "-b", BOOT, "-G", "c-consumer-%d" % b, "c_bucket_%d" % b, "-q",
         "-X", "auto.commit.interval.ms=200", "-X", "auto.offset.reset=earliest",
         "-f", "%k\t%s\n"], stdout=open(os.path.join(WORK, "c-consumer-%d.out" % b), "w"),
        stderr=subprocess.DEVNULL) for b in range(2)]
    released = r.wait("released", lambda: r.routed() >= 2 * half
                      and r.metrics().get("posthog_router_held_messages", 1) == 0, timeout=120)
    check("move: released once the old consumers passed the move point", released)
    for c in consumers:
        c.terminate()
        c.wait()
    check("move: stops cleanly", r.stop() == 0)
    check("move: followers read every bucket topic", follow_until(followers, [8] * 3))
    old, new, total = {}, {}, 0
    for b in range(3):
        for p, o, k, ts, h, v in followers[b].stop():
            total += 1
            (new if b == 2 else old).setdefault(k, []).append(seq_of(v))
    check("move: every message once", total == 2 * half, str(total))
    check("move: only moved teams in the new bucket", all(token_of(k) in moved for k in new))
    bad = 0
    for k, seqs in new.items():
        bad += seqs != sorted(seqs)
        bad += max(old.get(k, [-1])) > min(seqs)
        bad += min(seqs) < half
    check("move: moved keys keep their order across buckets", bad == 0 and len(new) > 0,
          "%d keys out of order" % bad)


def phase_flags():
    print("--- flags: a bad value exits 2 and names the flag", flush=True)
    base = ["--kafka-bootstrap-servers", BOOT, "--bucket-map", os.path.join(WORK, "none.json"),
            "--database-url", "postgresql:///none"]
    cases = [  # (flags, environment, what the message must name)
        (["--producers", "0"], {}, "--producers"),
        (["--producers", "17"], {}, "--producers"),
        (["--producers", "two"], {}, "--producers"),
        (["--lookups-per-second", "0"], {}, "--lookups-per-second"),
        ([], {"POSTHOG_ROUTER_PRODUCERS": "0"}, "$POSTHOG_ROUTER_PRODUCERS"),
        (["--token-refresh", "0s"], {}, "--token-refresh"),
        (["--max-message-bytes", "0"], {}, "--max-message-bytes"),
        (["--fallback-bucket", "-1"], {}, "--fallback-bucket"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ]
    for flags, env, names in cases:
        try:
            p = subprocess.run([ROUTER, "route"] + base + flags, env=dict(os.environ, **env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
            code, err = p.returncode, p.stderr.decode()
        except subprocess.TimeoutExpired:  # accepted the value and started
            code, err = None, "still running after 10 s"
        check("flags: %s%s exits 2 naming %s" % (" ".join(flags), " ".join("%s=%s" % e for e in env.items()), names),
              code == 2 and names in err, "exit %s: %s" % (code, err.strip()[-300:]))


def phase_bad():
    print("--- bad: fallback and lookups", flush=True)
    teams = teams_for("d", 2, 9000, 1)
    add_teams(teams)
    path = os.path.join(WORK, "d-buckets.json")
    write_map(path, "d_bucket_", 2, {}, "d-consumer-%d")
    good_team, good_tok = next((t, tok) for t, tok in teams if bucket_of(t, 2, {}) == 1)
    r = Router("d", "--source-topic", "d_src", "--group", "d-router", "--bucket-map", path,
               "--max-message-bytes", "2048", "--token-refresh", "1h",
               "--map-check-interval", "200ms")
    r.start()
    bad = [
        ("k-json", '{"token":"%s","distinct_id":"x"' % good_tok),
        ("k-notoken", '{"distinct_id":"x","event":"e"}'),
        ("k-large", '{"token":"%s","pad":"%s"}' % (good_tok, "p" * 3000)),
        ("k-unknown", '{"token":"phc_nobody_has_this","distinct_id":"x"}'),
    ]
    produce("d_src", [("%s:u1" % good_tok, '{"token":"%s","distinct_id":"u1","seq":1}' % good_tok)] + bad,
            headers=["source=capture"])
    check("bad: five routed", r.wait("five", lambda: r.routed() >= 5, timeout=60))
    m = r.metrics()
    for reason in ("invalid_json", "no_token", "too_large", "unknown_token"):
        check("bad: %s counted" % reason,
              m.get('posthog_router_fallback_messages_total{reason="%s"}' % reason) == 1)
    check("bad: unknown tokens counted", m.get("posthog_router_unknown_tokens_total") == 1)
    src = {k: (ts, h, v) for p, o, k, ts, h, v in consume("d_src")}
    fb = {k: (ts, h, v) for p, o, k, ts, h, v in consume("d_bucket_0")}
    b1 = {k: (ts, h, v) for p, o, k, ts, h, v in consume("d_bucket_1")}
    check("bad: the bad messages in the fallback bucket, byte for byte with key, headers, timestamp",
          all(fb.get(k) == src[k] for k, _ in bad) and len(fb) == len(bad))
    check("bad: the good message in its bucket with key, headers, timestamp",
          b1.get("%s:u1" % good_tok) == src["%s:u1" % good_tok] and "source=capture" in src["%s:u1" % good_tok][1])
    # A team created after the last full load is found by a lookup.
    late = next(t for t in range(9100, 9200) if bucket_of(t, 2, {}) == 1)
    late_tok = "phc_late_arrival_%d" % late
    psql("INSERT INTO posthog_team (id, api_token, name) VALUES (%d, '%s', 'late')" % (late, late_tok))
    produce("d_src", [("%s:u1" % late_tok, '{"token":"%s","distinct_id":"u1"}' % late_tok)])
    check("bad: a new token is looked up and routed to its bucket",
          r.wait("late", lambda: r.metrics().get('posthog_router_messages_routed_total{bucket="1"}', 0) >= 2, 60)
          and r.metrics().get('posthog_router_token_lookups_total{result="found"}') == 1)
    # An unparseable map: the last good one stays.
    write_atomic(path, '{"version": 1, "buckets": ')
    check("bad: an unparseable map is reported",
          r.wait("map error", lambda: r.metrics().get("posthog_router_bucket_map_valid") == 0
                 and r.metrics().get('posthog_router_bucket_map_reloads_total{result="error"}') == 1, 30))
    produce("d_src", [("%s:u2" % good_tok, '{"token":"%s","distinct_id":"u2"}' % good_tok)])
    check("bad: routing goes on with the last good map",
          r.wait("after bad map", lambda: r.metrics().get('posthog_router_messages_routed_total{bucket="1"}', 0) >= 3, 60))
    check("bad: the log says the last good map is kept", "keeping the last good map" in open(r.log).read())
    status, _ = r.get(r.hport, "/readyz")
    check("bad: still ready", status == 200)
    check("bad: stops cleanly", r.stop() == 0)


def main():
    if sys.argv[1:] == ["topics"]:
        print(" ".join("--topic %s:%d" % t for t in TOPICS))
        return 0
    psql("CREATE TABLE IF NOT EXISTS posthog_team (id integer PRIMARY KEY, "
         "api_token varchar(200) UNIQUE NOT NULL, name varchar(200))")
    phases = sys.argv[1:] or ["flags", "bad", "move", "kill", "volume"]
    for p in phases:
        globals()["phase_" + p]()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
