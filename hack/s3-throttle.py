#!/usr/bin/env python3
"""A loopback TCP relay that slows one direction down, for hack/test.d/27-backup.

    s3-throttle.py LISTEN_PORT_FILE UPSTREAM_PORT MARK_FILE MARK_BYTES RATE [LOG_FILE]

It listens on a free 127.0.0.1 port (written to LISTEN_PORT_FILE) and relays
every connection to 127.0.0.1:UPSTREAM_PORT. Bytes from the client go
through at RATE bytes per second; once MARK_BYTES of them have passed it
writes MARK_FILE, so that a test can kill the client in the middle of an
upload at a point it knows. Bytes are relayed unchanged (the Host header
too), so SigV4 signatures stay valid.

With LOG_FILE, it also reads the HTTP/1.1 requests in what it relays to the
store and appends one line per request, "METHOD PATH", as each request's
head passes: the store side's own count of the client's requests (a body
is skipped by its Content-Length or its chunks). The test compares it with
what the client says it sent.
"""
import os
import socket
import sys
import threading
import time

port_file, upstream, mark_file, mark_bytes, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
log_file = sys.argv[6] if len(sys.argv) > 6 else None
lock = threading.Lock()
sent = [0]


class Requests:
    """Finds the request heads in one connection's client-to-store bytes."""

    def __init__(self):
        self.buf = b""
        self.body = 0        # body bytes still to skip
        self.chunked = False

    def feed(self, data):
        self.buf += data
        while True:
            if self.body:
                n = min(self.body, len(self.buf))
                self.buf, self.body = self.buf[n:], self.body - n
                if self.body:
                    return
            if self.chunked:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2:]
                self.body = size + 2
                if size == 0:   # the last chunk; no trailers from curl
                    self.chunked = False
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
            lines = head.split("\r\n")
            method, path = lines[0].split(" ")[:2]
            hdr = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
            self.body = int(hdr.get("content-length", "0"))
            self.chunked = hdr.get("transfer-encoding", "").lower() == "chunked"
            with lock:
                with open(log_file, "a") as f:
                    f.write("%s %s\n" % (method, path))


def pump(src, dst, throttle):
    reqs = Requests() if throttle and log_file else None
    try:
        while True:
            data = src.recv(16384)
            if not data:
                break
            if reqs:
                reqs.feed(data)
            if throttle:
                time.sleep(len(data) / rate)
                with lock:
                    sent[0] += len(data)
                    if sent[0] >= mark_bytes and not os.path.exists(mark_file):
                        with open(mark_file, "w") as f:
                            f.write(str(sent[0]))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", upstream))
        threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, False), daemon=True).start()


main()
