"""HTTPS server: request parsing, authentication, impersonation, RBAC,
fault injection, the request log, and routing of non-resource paths.
Resource requests go to handlers.Handlers."""
import json
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import discovery, openapi, rbac
from .errors import ApiError, REASONS, status_obj

MAX_BODY = 8 << 20
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
          "DELETE": "delete"}


class Request:
    """Where a request goes, in RBAC and REST terms."""

    def __init__(self, method, path, q, headers, body):
        self.method, self.path, self.q, self.headers, self.body = \
            method, path, q, headers, body
        self.resource_request = False
        self.rt = None
        self.group = self.version = self.plural = self.ns = self.name = self.sub = ""
        self.subpath = ""
        self.verb = method.lower()

    def parse(self, registry):
        segs = [urllib.parse.unquote(s) for s in self.path.strip("/").split("/")]
        if segs[0] == "api" and len(segs) >= 3:
            self.group, self.version, rest = "", segs[1], segs[2:]
        elif segs[0] == "apis" and len(segs) >= 4:
            self.group, self.version, rest = segs[1], segs[2], segs[3:]
        else:
            return False
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
            if not rest:
                return False
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status",
                                                                          "finalize"):
            self.ns, rest = rest[1], rest[2:]
        self.plural = rest[0]
        self.name = rest[1] if len(rest) > 1 else ""
        self.sub = rest[2] if len(rest) > 2 else ""
        self.subpath = "/".join(rest[3:])
        if self.plural == "namespaces" and self.name:
            self.ns = self.name
        self.resource_request = True
        self.rt = registry.get(self.group, self.version, self.plural)
        if watch or self.q.get("watch") in ("true", "1"):
            self.verb = "watch" if self.method == "GET" else self.verb
        if self.verb == "watch":
            pass
        elif self.method == "GET":
            self.verb = "get" if self.name else "list"
        elif self.method == "DELETE" and not self.name:
            self.verb = "deletecollection"
        else:
            self.verb = _VERBS.get(self.method, self.method.lower())
        if self.sub == "proxy" and ":" in self.name:
            pass
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localcluster"
    sys_version = ""

    def setup(self):
        self.request.settimeout(30)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
        self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "Request entity too large: limit is 8388608", "RequestEntityTooLarge")
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise ApiError(413, "Request entity too large", "RequestEntityTooLarge")
            return out
        return b""

    def dispatch(self, method):
        srv = self.server.app
        t0 = time.monotonic()
        self.streamed = False
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query,
                                                        keep_blank_values=True).items()}
        req = Request(method, url.path, q, self.headers, b"")
        user = rbac.ANONYMOUS
        code = 500
        try:
            req.body = self._body()
            user = srv.authenticate(self)
            if req.parse(srv.registry):
                srv.faults.before(url.path, req.verb, self.headers.get("User-Agent"))
                code = self.serve_resource(srv, req, user)
            else:
                req.verb = method.lower()
                srv.faults.before(url.path, req.verb, self.headers.get("User-Agent"))
                code = self.serve_other(srv, req, user)
        except ApiError as e:
            code = e.code
            self.send_json(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError):
            code = 499
            self.close_connection = True
        except Exception as e:  # a bug: answer 500 as upstream would, and log it
            import traceback
            traceback.print_exc()
            code = 500
            try:
                self.send_json(500, status_obj(500, "Internal error occurred: %s" % e,
                                               "InternalError"))
            except OSError:
                self.close_connection = True
        srv.log_request(user, self.headers.get("User-Agent", ""), req.verb, url.path,
                        url.query, code, time.monotonic() - t0)

    def serve_resource(self, srv, req, user):
        if req.rt is None:
            raise ApiError(404, "the server could not find the requested resource",
                           "NotFound", {})
        srv.authorize(user, rbac.Attrs(req.verb, req.group, req.plural, req.sub,
                                       req.name if req.plural != "namespaces" or
                                       req.sub or req.method != "POST" else req.name,
                                       req.ns), req)
        res = srv.handlers.resource(self, req, user)
        if res is None:      # streamed (watch, proxy)
            return getattr(self, "stream_code", 200)
        code, body = res[0], res[1]
        ctx = res[2] if len(res) > 2 else None
        headers = {}
        if ctx is not None and ctx.warnings:
            headers["Warning"] = ['299 - "%s"' % w for w in ctx.warnings]
        self.send_json(code, body, headers)
        return code

    def serve_other(self, srv, req, user):
        path = req.path.rstrip("/") or "/"
        if path.startswith("/admin/"):
            if not user.is_admin():
                raise ApiError(403, 'forbidden: User "%s" cannot %s path "%s"'
                               % (user.name, req.verb, req.path), "Forbidden", {})
            return self.send_json(*srv.admin(req))
        srv.authorize(user, rbac.Attrs(req.verb, path=req.path), req)
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        if path == "/version":
            return self.send_json(200, discovery.version_info())
        if path == "/api":
            return self.send_json(200, discovery.api_versions())
        if path == "/apis":
            return self.send_json(200, discovery.api_group_list(srv.registry))
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) == 2:
            d = discovery.resource_list(srv.registry, "", segs[1])
            if d:
                return self.send_json(200, d)
        if segs[0] == "apis" and len(segs) == 2:
            d = discovery.api_group(srv.registry, segs[1])
            if d:
                return self.send_json(200, d)
        if segs[0] == "apis" and len(segs) == 3:
            d = discovery.resource_list(srv.registry, segs[1], segs[2])
            if d:
                return self.send_json(200, d)
        if segs[0] == "openapi":
            res = openapi.serve(srv.registry, path, req.q)
            if res is not None:
                return self.send_json(200, res)
        if path == "/":
            return self.send_json(200, {"paths": sorted(["/api", "/apis", "/healthz",
                                                         "/livez", "/readyz", "/version",
                                                         "/openapi/v2", "/openapi/v3"])})
        raise ApiError(404, "the server could not find the requested resource", "NotFound",
                       {})

    def send_json(self, code, obj, headers=None):
        data = obj if isinstance(obj, bytes) else \
            json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code, REASONS.get(code))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            for x in (v if isinstance(v, list) else [v]):
                self.send_header(k, x)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return code

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return code


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, addr, handler, sslctx, app):
        self.app = app
        self.sslctx = sslctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sslctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass


def make_ssl_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki + "/server.crt", pki + "/server.key")
    ctx.load_verify_locations(pki + "/ca.crt")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class App:
    """Everything a request handler needs, owned by one server instance."""

    def __init__(self, opts, store, registry, api, authn, authz, faults, handlers_cls,
                 proxy):
        self.opts, self.store, self.registry, self.api = opts, store, registry, api
        self.authn, self.authz, self.faults, self.proxy = authn, authz, faults, proxy
        self.handlers = handlers_cls(self)
        self.log_lock = threading.Lock()
        self.log = open(opts.dir + "/apiserver-requests.jsonl", "a", buffering=1 << 16)
        self.on_restart = None
        # new at every start (a restart fault re-executes the process with
        # the same pid), so a client can tell that a restart has happened
        self.boot_id = str(uuid.uuid4())

    def log_request(self, user, ua, verb, path, query, code, secs):
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) +
                           ".%03dZ" % (int(time.time() * 1000) % 1000),
                           "user": user.name, "userAgent": ua, "verb": verb,
                           "path": path, "query": query, "code": code,
                           "durationMs": round(secs * 1000, 3)}, separators=(",", ":"))
        with self.log_lock:
            self.log.write(line + "\n")

    def flush_log(self, stop):
        while not stop.wait(0.2):
            with self.log_lock:
                self.log.flush()

    def authenticate(self, h):
        auth = h.headers.get("Authorization", "")
        user = None
        if auth.lower().startswith("bearer "):
            user = self.authn.from_token(auth[7:].strip())
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
        if user is None:
            try:
                user = self.authn.from_cert(h.request.getpeercert())
            except (ValueError, AttributeError):
                user = None
        user = user or rbac.ANONYMOUS
        imp = h.headers.get("Impersonate-User")
        if imp:
            if not user.is_admin() and not self.authz.allowed(
                    user, rbac.Attrs("impersonate", "", "users", "", imp, "")):
                raise ApiError(403, 'users "%s" is forbidden: User "%s" cannot impersonate '
                               'resource "users" in API group "" at the cluster scope'
                               % (imp, user.name), "Forbidden", {"name": imp, "kind": "users"})
            groups = h.headers.get_all("Impersonate-Group") or []
            if imp.startswith("system:serviceaccount:"):
                ns = imp.split(":")[2]
                groups = groups + ["system:serviceaccounts", "system:serviceaccounts:" + ns]
            user = rbac.User(imp, groups + ["system:authenticated"])
        return user

    def authorize(self, user, attrs, req):
        if self.authz.allowed(user, attrs):
            return
        if user is rbac.ANONYMOUS and attrs.path is None:
            pass
        if attrs.path is not None:
            raise ApiError(403, 'forbidden: User "%s" cannot %s path "%s"'
                           % (user.name, attrs.verb, attrs.path), "Forbidden", {})
        from .errors import forbidden
        raise forbidden(user.name, attrs.verb, attrs.resource, attrs.group, attrs.ns,
                        attrs.name, attrs.sub)

    def admin(self, req):
        path = req.path.rstrip("/")
        if path == "/admin/faults":
            if req.method == "GET":
                return 200, dict(self.faults.cfg)
            if req.method in ("POST", "PUT"):
                doc = json.loads(req.body or b"{}")
                return 200, self.faults.set(doc)
        if path == "/admin/stats":
            return 200, {"bootId": self.boot_id, "resourceVersion": self.store.rv,
                         "watchers": self.store.watcher_count(),
                         "objects": {k: self.store.count(k) for k in self.store.data}}
        if path == "/admin/save" and req.method == "POST":
            self.store.save(self.opts.dir + "/state.json")
            return 200, {"saved": True}
        raise ApiError(404, "the server could not find the requested resource", "NotFound")
