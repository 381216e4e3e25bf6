"""In-memory object store: a global resourceVersion, per-resource history
for watch resume, watcher fan-out and an ownerReference index.

Stored objects are never mutated after they are committed: every write
builds a new dict.  Readers may therefore serialize a stored object without
copying it, and watch events can share it across watchers.
"""
import collections
import json
import os
import queue
import threading


class Expired(Exception):
    """A watch asked for a resourceVersion older than the history window."""

    def __init__(self, asked, oldest):
        super().__init__("too old resource version: %d (%d)" % (asked, oldest))


class Event:
    __slots__ = ("type", "obj", "old", "rv", "key", "_raw")

    def __init__(self, etype, obj, old, rv, key):
        self.type, self.obj, self.old, self.rv, self.key = etype, obj, old, rv, key
        self._raw = None

    def raw_object(self):
        """The object as JSON text, computed once and shared by watchers."""
        if self._raw is None:
            self._raw = json.dumps(self.obj, separators=(",", ":"))
        return self._raw


CLOSE = object()   # sentinel a watcher's queue receives when it must end


class Watcher:
    def __init__(self, key, ns):
        self.key = key
        self.ns = ns
        self.q = queue.SimpleQueue()

    def close(self):
        self.q.put(CLOSE)


class Store:
    def __init__(self, history=5000):
        self.lock = threading.RLock()
        # one save at a time: the --persist thread, /admin/save and the
        # restart fault all write state.json through the same temporary file
        self.save_lock = threading.Lock()
        self.rv = 1
        self.data = {}       # key -> {ns -> {name -> obj}}
        self.hist = {}       # key -> deque of Event
        self.floor = {}      # key -> oldest resumable rv
        # (key, namespace or None for every namespace) -> set of Watcher, so
        # that a write wakes only the watchers that can receive it.
        self.watchers = {}
        self.owners = {}     # owner uid -> set of (key, ns, name)
        self.listeners = []  # callables(Event), run after each commit
        self.history = history
        self.dirty = False
        self.base_rv = 1     # rv when this process started (history floor)

    # --- reads ---------------------------------------------------------
    def get(self, key, ns, name):
        return self.data.get(key, {}).get(ns or "", {}).get(name)

    def list(self, key, ns=None):
        """Objects sorted by (namespace, name) as etcd keys sort, and the rv."""
        with self.lock:
            rv = self.rv
            bucket = self.data.get(key, {})
            if ns is not None:
                spaces = [ns] if ns in bucket else []
            else:
                spaces = sorted(bucket)
            out = []
            for n in spaces:
                objs = bucket[n]
                out.extend(objs[k] for k in sorted(objs))
        return out, rv

    def count(self, key, ns=None):
        bucket = self.data.get(key, {})
        if ns is not None:
            return len(bucket.get(ns, {}))
        return sum(len(v) for v in bucket.values())

    def dependents(self, uid):
        with self.lock:
            return list(self.owners.get(uid, ()))

    def namespaces_in_use(self, ns):
        """Keys with at least one object in namespace ns."""
        return [k for k, b in list(self.data.items()) if b.get(ns)]

    # --- writes (callers hold self.lock for read-modify-write) ---------
    def next_rv(self):
        self.rv += 1
        return self.rv

    def commit(self, key, obj, etype, old=None):
        """Stores obj (already carrying its new resourceVersion) or, for
        DELETED, removes it; records history and notifies watchers."""
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        rv = int(meta["resourceVersion"])
        with self.lock:
            bucket = self.data.setdefault(key, {})
            if etype == "DELETED":
                space = bucket.get(ns, {})
                space.pop(name, None)
                if not space:
                    bucket.pop(ns, None)
            else:
                bucket.setdefault(ns, {})[name] = obj
            self._index_owners(key, ns, name, old, None if etype == "DELETED" else obj)
            ev = Event(etype, obj, old, rv, key)
            h = self.hist.get(key)
            if h is None:
                h = self.hist[key] = collections.deque()
            h.append(ev)
            if len(h) > self.history:
                self.floor[key] = h.popleft().rv
            for w in self.watchers.get((key, None), ()):
                w.q.put(ev)
            if ns:
                for w in self.watchers.get((key, ns), ()):
                    w.q.put(ev)
            self.dirty = True
        for fn in self.listeners:
            fn(ev)
        return obj

    def _index_owners(self, key, ns, name, old, new):
        ref = (key, ns, name)
        for o in (old, new):
            if o is None:
                continue
            for r in o["metadata"].get("ownerReferences") or ():
                uid = r.get("uid")
                if not uid:
                    continue
                s = self.owners.get(uid)
                if o is old:
                    if s:
                        s.discard(ref)
                        if not s:
                            del self.owners[uid]
                else:
                    self.owners.setdefault(uid, set()).add(ref)

    # --- watch ---------------------------------------------------------
    def watch(self, key, ns, since):
        """Registers a watcher; returns (watcher, backlog events after since).

        since None means "from now".  Raises Expired if since is older
        than the history kept for key."""
        with self.lock:
            w = Watcher(key, ns)
            backlog = []
            if since is not None:
                oldest = self.floor.get(key, self.base_rv)
                if since < oldest:
                    raise Expired(since, oldest)
                backlog = [e for e in self.hist.get(key, ()) if e.rv > since]
            self.watchers.setdefault((key, ns or None), set()).add(w)
            return w, backlog

    def unwatch(self, w):
        with self.lock:
            s = self.watchers.get((w.key, w.ns or None))
            if s:
                s.discard(w)

    def watcher_count(self):
        return sum(len(s) for s in self.watchers.values())

    def close_watches(self):
        with self.lock:
            for s in self.watchers.values():
                for w in s:
                    w.close()

    def expire_history(self):
        """Forgets all watch history: resuming from any resourceVersion
        handed out so far (even the newest) answers 410 Expired."""
        with self.lock:
            for key in list(self.hist):
                self.hist[key].clear()
            self.base_rv = self.rv + 1
            self.floor = {k: self.rv + 1 for k in self.floor}

    # --- persistence ---------------------------------------------------
    def snapshot(self):
        with self.lock:
            items = {k: [o for space in b.values() for o in space.values()]
                     for k, b in self.data.items()}
            self.dirty = False
            return {"rv": self.rv, "objects": items}

    def save(self, path):
        with self.save_lock:
            snap = self.snapshot()
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(snap, f, separators=(",", ":"))
            os.replace(tmp, path)

    def load(self, path):
        with open(path) as f:
            snap = json.load(f)
        with self.lock:
            self.rv = snap["rv"]
            self.base_rv = self.rv
            for key, objs in snap["objects"].items():
                for o in objs:
                    m = o["metadata"]
                    self.data.setdefault(key, {}).setdefault(
                        m.get("namespace", ""), {})[m["name"]] = o
                    self._index_owners(key, m.get("namespace", ""), m["name"],
                                       None, o)
