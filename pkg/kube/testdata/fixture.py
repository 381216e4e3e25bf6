"""A scripted HTTP(S) server on loopback for the kube client tests.

Usage: /usr/bin/python3 fixture.py SCRIPT.json LOG.jsonl

Prints "PORT <n>" on stdout once listening. SCRIPT is
  {"tls": {"cert": path, "key": path, "client_ca": path}   (optional)
   "rules": [rule, ...]}
A request is answered by the first rule that matches it and has uses
left. A rule matches on:
  method, path (exact, without the query), query (subset of parameters,
  value null = must be absent), auth (exact Authorization header),
  client_cn (CN of the verified client certificate)
and answers with:
  status (200), headers ({}), body (string) or json (any), or
  chunks (strings written one by one with chunk_delay_ms between them,
  chunked encoding), then hold_ms of silence, or hold (until the client
  goes away); reset (close the connection without answering);
  delay_ms (before answering); times (uses; default unlimited).
Every request is appended to LOG as one JSON line before it is answered:
  {"method", "path", "query", "headers" (lower-case names), "body",
   "client_cn", "rule", "peer" (client port: one per connection)}.
Only the standard library is used.
"""
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def load(path):
    with open(path) as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def client_cn(self):
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        cert = self.connection.getpeercert()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def matches(self, rule, path, query, cn):
        if rule.get("times", -1) == 0:
            return False
        if "method" in rule and rule["method"] != self.command:
            return False
        if "path" in rule and rule["path"] != path:
            return False
        for k, v in rule.get("query", {}).items():
            if v is None:
                if k in query:
                    return False
            elif query.get(k) != v:
                return False
        if "auth" in rule and self.headers.get("Authorization") != rule["auth"]:
            return False
        if "client_cn" in rule and rule["client_cn"] != cn:
            return False
        return True

    def pick(self, path, query, cn):
        with LOCK:
            for i, rule in enumerate(self.server.rules):
                if self.matches(rule, path, query, cn):
                    if rule.get("times", -1) > 0:
                        rule["times"] -= 1
                    return i, rule
        return -1, None

    def record(self, path, query, body, cn, idx):
        entry = {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "client_cn": cn,
            "rule": idx,
            "peer": self.client_address[1],
        }
        with LOCK:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in
                 urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        cn = self.client_cn()
        idx, rule = self.pick(url.path, query, cn)
        self.record(url.path, query, body, cn, idx)
        if rule is None:
            rule = {"status": 404, "json": {
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": "NotFound", "code": 404,
                "message": "fixture: no rule for %s %s" % (self.command, url.path)}}
        if rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000.0)
        if rule.get("reset"):
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            return
        if "chunks" in rule:
            self.stream(rule)
        else:
            self.answer(rule)

    def answer(self, rule):
        if "json" in rule:
            data = json.dumps(rule["json"]).encode()
            ctype = "application/json"
        else:
            data = rule.get("body", "").encode()
            ctype = "text/plain"
        self.send_response(rule.get("status", 200))
        self.send_header("Content-Type", ctype)
        for k, v in rule.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def stream(self, rule):
        self.send_response(rule.get("status", 200))
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in rule.get("headers", {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        delay = rule.get("chunk_delay_ms", 0) / 1000.0
        try:
            for c in rule["chunks"]:
                data = c.encode()
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                if delay:
                    time.sleep(delay)
            if rule.get("hold"):
                # Until the client goes away (a cancelled watch).
                self.connection.settimeout(0.2)
                while True:
                    try:
                        if not self.connection.recv(1):
                            break
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                self.close_connection = True
                return
            if rule.get("hold_ms"):
                time.sleep(rule["hold_ms"] / 1000.0)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    script = load(sys.argv[1])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.rules = script.get("rules", [])
    srv.log_path = sys.argv[2]
    tls = script.get("tls")
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls["cert"], tls["key"])
        if tls.get("client_ca"):
            ctx.load_verify_locations(tls["client_ca"])
            ctx.verify_mode = (ssl.CERT_REQUIRED if tls.get("require_client")
                               else ssl.CERT_OPTIONAL)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
