"""Fault injection, switchable at runtime by POST /admin/faults or by the
flag file <dir>/faults.json (re-read whenever its mtime changes).

The JSON shape is documented in docs/local-cluster.md.  Persistent knobs
(errorRate, errorCode, retryAfter, latencyMs, match) stay until changed;
one-shot actions (closeWatches, expireHistory, restart) run once each time
a document containing them is received.
"""
import json
import os
import random
import re
import threading
import time

from .errors import ApiError

_KNOBS = ("errorRate", "errorCode", "retryAfter", "latencyMs", "match")
_ACTIONS = ("closeWatches", "expireHistory", "restart")
EXEMPT = re.compile(r"^/(admin|healthz|readyz|livez)")


class Faults:
    def __init__(self, path, store, on_restart):
        self.path, self.store, self.on_restart = path, store, on_restart
        self.cfg = {}
        self.lock = threading.Lock()
        self.mtime = None
        self.rng = random.Random()

    def set(self, doc):
        """Applies a fault document; returns the knobs now in force."""
        if not isinstance(doc, dict):
            raise ApiError(400, "fault document must be a JSON object", "BadRequest")
        with self.lock:
            if doc.get("reset"):
                self.cfg = {}
            for k in _KNOBS:
                if k in doc:
                    if doc[k] is None:
                        self.cfg.pop(k, None)
                    else:
                        self.cfg[k] = doc[k]
        if doc.get("expireHistory"):
            self.store.expire_history()
        if doc.get("closeWatches"):
            self.store.close_watches()
        if doc.get("restart"):
            self.on_restart(float(doc.get("restartDownSeconds", 0)))
        return dict(self.cfg)

    def poll_file(self):
        try:
            m = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        if m == self.mtime:
            return
        self.mtime = m
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return
        self.set(doc)

    def watch_file(self, stop):
        try:
            self.mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            pass
        while not stop.is_set():
            self.poll_file()
            stop.wait(0.2)

    def before(self, path, verb, user_agent):
        """Called for each request: sleeps or raises an injected error."""
        cfg = self.cfg
        if not cfg or EXEMPT.match(path):
            return
        m = cfg.get("match") or {}
        if m.get("path") and not re.search(m["path"], path):
            return
        if m.get("userAgent") and not re.search(m["userAgent"], user_agent or ""):
            return
        if m.get("verbs") and verb not in m["verbs"]:
            return
        if cfg.get("latencyMs"):
            time.sleep(cfg["latencyMs"] / 1000.0)
        rate = cfg.get("errorRate") or 0
        if rate and self.rng.random() < rate:
            code = int(cfg.get("errorCode", 500))
            if code == 429:
                ra = str(cfg.get("retryAfter", 1))
                raise ApiError(429, "Too many requests, please try again later.",
                               "TooManyRequests", {"retryAfterSeconds": int(ra)},
                               headers={"Retry-After": ra})
            raise ApiError(code, "Internal error occurred: injected fault",
                           "InternalError" if code == 500 else None,
                           {"causes": [{"message": "injected fault"}]})
