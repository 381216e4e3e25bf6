"""The watch protocol: a chunked stream of {"type":..., "object":...}
lines, resumable from a resourceVersion, with bookmarks, a bounded
history (410 Expired as an ERROR event, as upstream) and timeoutSeconds.
"""
import json
import queue
import time

from .store import CLOSE, Expired


def _status_410(msg):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": msg, "reason": "Expired", "code": 410}


class WatchFilter:
    def __init__(self, ns, match_labels, match_fields):
        self.ns, self.ml, self.mf = ns, match_labels, match_fields

    def match(self, obj):
        if obj is None:
            return False
        m = obj["metadata"]
        if self.ns is not None and m.get("namespace", "") != self.ns:
            return False
        if self.ml and not self.ml(m.get("labels")):
            return False
        if self.mf and not self.mf(obj):
            return False
        return True

    def translate(self, ev):
        """Maps a store event to the event this watcher sees (or None)."""
        now = self.match(ev.obj)
        if ev.type == "DELETED":
            return "DELETED" if now else None
        before = self.match(ev.old) if ev.old is not None else False
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None


class WatchStream:
    """Writes one watch response on handler's connection."""

    def __init__(self, handler, api, rt, version, filt, table=None,
                 bookmark_interval=10.0):
        self.h, self.api, self.rt, self.version = handler, api, rt, version
        self.filt, self.table = filt, table
        self.bookmark_interval = bookmark_interval

    def _line(self, etype, obj, ev=None):
        if self.table is not None and etype in ("ADDED", "MODIFIED", "DELETED"):
            obj = self.table([obj])
            raw = json.dumps(obj, separators=(",", ":"))
        else:
            out = obj if etype in ("BOOKMARK", "ERROR") else \
                self.api.out(self.rt, self.version, obj)
            if ev is not None and out is ev.obj:
                raw = ev.raw_object()
            else:
                raw = json.dumps(out, separators=(",", ":"))
        return ('{"type":"%s","object":%s}\n' % (etype, raw)).encode()

    def _send(self, chunks):
        data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
        self.h.wfile.write(data)
        self.h.wfile.flush()

    def _bookmark(self, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.rt.kind, "apiVersion": self.rt.api_version(self.version),
               "metadata": meta}
        return self._line("BOOKMARK", obj)

    def run(self, since, timeout, bookmarks, send_initial):
        store = self.api.store
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()
        try:
            if since is None:
                with store.lock:
                    objs, rv = store.list(self.rt.key, self.filt.ns)
                    w, _ = store.watch(self.rt.key, self.filt.ns, None)
                first = [self._line("ADDED", o) for o in objs if self.filt.match(o)]
                if send_initial and bookmarks:
                    first.append(self._bookmark(rv, True))
                if first:
                    self._send(first)
                last_rv = rv
            else:
                try:
                    w, backlog = store.watch(self.rt.key, self.filt.ns, since)
                except Expired as e:
                    self._send([self._line("ERROR", _status_410(str(e)))])
                    h.wfile.write(b"0\r\n\r\n")
                    return
                last_rv = since
                for ev in backlog:
                    w.q.put(ev)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
        try:
            self._loop(w, last_rv, timeout, bookmarks)
        finally:
            store.unwatch(w)

    def _settled_rv(self, w, last_rv):
        """The newest rv this watcher provably has every event up to."""
        store = self.api.store
        with store.lock:
            if w.q.empty():
                return max(store.rv, last_rv)
        return last_rv

    def _loop(self, w, last_rv, timeout, bookmarks):
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + self.bookmark_interval
        closed = False
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bm if bookmarks else deadline) - now
                try:
                    ev = w.q.get(timeout=max(wait, 0.001))
                except queue.Empty:
                    ev = None
                out = []
                while ev is not None:
                    if ev is CLOSE:
                        closed = True
                        break
                    if ev.rv > last_rv:
                        et = self.filt.translate(ev)
                        if et:
                            out.append(self._line(et, ev.obj, ev))
                        last_rv = ev.rv
                    try:
                        ev = w.q.get_nowait()
                    except queue.Empty:
                        ev = None
                if bookmarks and time.monotonic() >= next_bm:
                    out.append(self._bookmark(self._settled_rv(w, last_rv)))
                    next_bm = time.monotonic() + self.bookmark_interval
                if out:
                    self._send(out)
                if closed:
                    self.h.close_connection = True
                    return
            if bookmarks:
                self._send([self._bookmark(self._settled_rv(w, last_rv))])
            self.h.wfile.write(b"0\r\n\r\n")
            self.h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.h.close_connection = True
