"""Throughput benchmark for a running instance.

    LOCAL_CLUSTER_DIR=... /usr/bin/python3 -m localcluster.bench [--clients 4] [--seconds 5]

Runs N client processes, each on one keep-alive HTTPS connection: first
creates ConfigMaps (writes), then GETs them (reads), while --watchers open
watches receive every write.  With --idle-watchers the watches are on
another namespace: open, but receiving nothing, as most watches of a busy
cluster are.  Prints requests per second for each phase.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import ssl
import time


def _conn(d):
    port = int(open(os.path.join(d, "port")).read())
    ctx = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.crt"))
    tok = open(os.path.join(d, "admin-token")).read().strip()
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx), tok


def _worker(d, ns, idx, mode, seconds, out):
    c, tok = _conn(d)
    h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    n, t_end = 0, time.time() + seconds
    while time.time() < t_end:
        if mode == "write":
            body = json.dumps({"metadata": {"name": "b-%d-%d" % (idx, n)}, "data": {"k": "v"}})
            c.request("POST", "/api/v1/namespaces/%s/configmaps" % ns, body, h)
        else:
            c.request("GET", "/api/v1/namespaces/%s/configmaps/b-%d-%d" % (ns, idx, n % 50),
                      headers=h)
        r = c.getresponse()
        r.read()
        if r.status >= 300:
            raise SystemExit("HTTP %d" % r.status)
        n += 1
    out.put(n)


def _watcher(d, ns, ready, out, seconds):
    c, tok = _conn(d)
    c.request("GET", "/api/v1/namespaces/%s/configmaps?watch=1&timeoutSeconds=%d"
              % (ns, seconds), headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    ready.put(1)
    n = 0
    for line in r:
        if line.startswith(b"{"):
            n += 1
    out.put(n)


def phase(d, ns, mode, clients, seconds):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=_worker, args=(d, ns, i, mode, seconds, q))
          for i in range(clients)]
    t0 = time.time()
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total / (time.time() - t0 - 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--idle-watchers", action="store_true",
                    help="watch another namespace instead of the written one")
    a = ap.parse_args()
    d = os.environ.get("LOCAL_CLUSTER_DIR") or os.path.join(
        os.path.dirname(__file__), "..", "..", ".local")
    ns = "bench-%d" % int(time.time())
    c, tok = _conn(d)
    c.request("POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": ns}}),
              {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    c.getresponse().read()
    ready, wq = multiprocessing.Queue(), multiprocessing.Queue()
    wns = ns + "-idle" if a.idle_watchers else ns
    wps = [multiprocessing.Process(target=_watcher, args=(d, wns, ready, wq,
                                                          int(a.seconds * 2 + 10)))
           for _ in range(a.watchers)]
    for p in wps:
        p.start()
    for _ in wps:
        ready.get()
    w = phase(d, ns, "write", a.clients, a.seconds)
    r = phase(d, ns, "read", a.clients, a.seconds)
    print(json.dumps({"clients": a.clients, "watchers": a.watchers,
                      "watchers_receive_writes": not a.idle_watchers,
                      "writes_per_s": round(w), "reads_per_s": round(r)}))
    for p in wps:
        p.terminate()


if __name__ == "__main__":
    main()
