"""The service proxy: /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}
forwarded to a backend registered with `up --proxy`, as the real API
server forwards to one of the Service's endpoints."""
import http.client

from .errors import ApiError, not_found

_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailers", "transfer-encoding", "upgrade", "host", "authorization",
        "content-length", "impersonate-user", "impersonate-group"}


def parse_mappings(specs):
    """'*:8123=127.0.0.1:18123' or 'ns/name:port=host:port' -> list of rules."""
    out = []
    for s in specs or ():
        left, _, right = s.partition("=")
        host, _, port = right.rpartition(":")
        svc, _, sport = left.rpartition(":")
        if not host or not port.isdigit() or not sport:
            raise ValueError("bad --proxy mapping %r (want SVC:PORT=HOST:PORT)" % s)
        out.append((svc, sport, host, int(port)))
    return out


class Proxy:
    def __init__(self, store, mappings):
        self.store = store
        self.rules = mappings

    def _backend(self, ns, name, port_num, port_name):
        for svc, sport, host, port in self.rules:
            if svc not in ("*", "%s/%s" % (ns, name), name):
                continue
            if sport in (str(port_num), port_name):
                return host, port
        return None

    def forward(self, h, req):
        ref = req.name
        parts = ref.split(":")
        if len(parts) == 3:
            _scheme, name, port = parts
        elif len(parts) == 2:
            if parts[0] in ("http", "https"):
                _scheme, name, port = parts[0], parts[1], ""
            else:
                name, port = parts
        else:
            name, port = ref, ""
        svc = self.store.get("services", req.ns, name)
        if svc is None:
            raise not_found(req.rt, name)
        ports = (svc.get("spec") or {}).get("ports") or []
        chosen = None
        for p in ports:
            if not port or str(p.get("port")) == port or p.get("name") == port:
                chosen = p
                break
        if chosen is None:
            raise ApiError(503, 'no endpoints available for service "%s"' % ref,
                           "ServiceUnavailable")
        be = self._backend(req.ns, name, chosen.get("port"), chosen.get("name"))
        if be is None:
            raise ApiError(503, 'no endpoints available for service "%s"' % ref,
                           "ServiceUnavailable")
        path = "/" + req.subpath
        if req.path.endswith("/") and not path.endswith("/"):
            path += "/"
        raw_q = h.path.partition("?")[2]
        if raw_q:
            path += "?" + raw_q
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(be[0], be[1], timeout=300)
        try:
            conn.request(req.method, path, body=req.body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            raise ApiError(503, "error trying to reach service: %s" % e, "ServiceUnavailable")
        finally:
            conn.close()
        h.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP:
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if req.method != "HEAD":
            h.wfile.write(data)
        h.stream_code = resp.status
        return None
