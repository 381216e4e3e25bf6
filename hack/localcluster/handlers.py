"""Turns a parsed API request into a call on the REST storage: query
parameters, content negotiation (JSON, Table, PartialObjectMetadata),
the scale and token subresources, access reviews and watches."""
import json

import yaml

from . import protobuf, rbac, tables
from . import selector as selectors
from .errors import ApiError, bad_request, not_found
from .rest import Ctx, deep
from .watch import WatchFilter, WatchStream

try:
    _YAML_LOADER = yaml.CSafeLoader
except AttributeError:
    _YAML_LOADER = yaml.SafeLoader

PATCH_TYPES = {"application/json-patch+json": "json",
               "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic",
               "application/apply-patch+yaml": "apply",
               "application/apply-patch+cbor": "apply-cbor"}


PROTO_CACHE = {"dir": None}


def parse_body(raw, ctype):
    if not raw:
        return None
    ct = (ctype or "application/json").split(";")[0].strip().lower()
    try:
        if "yaml" in ct:
            return yaml.load(raw, Loader=_YAML_LOADER)
        if "protobuf" in ct:
            return protobuf.decode(raw, PROTO_CACHE["dir"])
        if "cbor" in ct:
            raise ApiError(415, "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, "
                           "application/yaml", "UnsupportedMediaType")
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise bad_request("error decoding request body: %s" % e)


def make_ctx(user, q, headers, verb):
    ctx = Ctx(user.name, user.groups, q.get("fieldManager"),
              headers.get("User-Agent", ""), "All" in q.get("dryRun", ""),
              q.get("fieldValidation", ""), q.get("force") in ("true", "1"))
    if "fieldManager" in q:
        ctx.extra["fieldManager"] = q["fieldManager"]
    fm = q.get("fieldManager")
    if fm is not None and (not fm or len(fm) > 128):
        raise bad_request("fieldManager: Invalid value: %s: must be between 1 and 128 "
                          "characters" % json.dumps(fm))
    return ctx


def accept_kind(accept):
    a = (accept or "").lower()
    if "as=table" in a:
        return "table"
    if "as=partialobjectmetadata" in a:
        return "partial"
    return "json"


def _partial(o):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": o["metadata"]}


# The annotation holding a simulated pod's log (controllers.py writes it).
LOG_ANNOTATION = "localcluster.posthog.com/log"


class Handlers:
    def __init__(self, server):
        self.s = server
        self.api = server.api

    # -- dispatch for /api/... and /apis/... resource requests ----------
    def resource(self, h, req, user):
        rt, version, ns, name, sub = req.rt, req.version, req.ns, req.name, req.sub
        if not rt.namespaced:
            ns = req.ns = ""
        q, api = req.q, self.api
        if rt.virtual:
            return self.review(req, user)
        if sub == "proxy":
            return self.s.proxy.forward(h, req)
        if sub == "token" and rt.key == "serviceaccounts":
            return self.token(req, user)
        if sub == "scale":
            return self.scale(req, user)
        if sub == "log" and rt.key == "pods":
            return self.pod_log(req)
        if sub and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource",
                           "NotFound")
        ctx = make_ctx(user, q, h.headers, req.verb)
        kind = accept_kind(h.headers.get("Accept"))
        if req.verb in ("list", "watch", "deletecollection"):
            ml = mf = None
            if q.get("labelSelector"):
                reqs = selectors.parse_labels(q["labelSelector"])
                ml = lambda labels: selectors.match_labels(reqs, labels)
            if q.get("fieldSelector"):
                freqs = selectors.parse_fields(q["fieldSelector"], rt)
                mf = lambda o: selectors.match_fields(freqs, o)
            if req.verb == "watch":
                return self.watch(h, req, kind, ml, mf)
            if req.verb == "deletecollection":
                opts = parse_body(req.body, h.headers.get("Content-Type")) or {}
                return 200, api.delete_collection(rt, version, ns or None, opts, ctx, ml, mf)
            try:
                limit = int(q.get("limit") or 0)
            except ValueError:
                raise bad_request("limit must be an integer")
            lst = api.list(rt, version, ns if rt.namespaced and ns else None,
                           limit=limit, cont=q.get("continue"), match_labels=ml,
                           match_fields=mf)
            if kind == "table":
                return 200, tables.to_table(rt, version, lst["items"], lst["metadata"],
                                            q.get("includeObject", "PartialObjectMetadata"))
            if kind == "partial":
                lst = dict(lst, kind="PartialObjectMetadataList",
                           apiVersion="meta.k8s.io/v1",
                           items=[_partial(o) for o in lst["items"]])
            return 200, lst
        if req.verb == "get":
            obj = api.get(rt, version, ns, name)
            if kind == "table":
                return 200, tables.to_table(rt, version, [obj], {"resourceVersion": obj[
                    "metadata"].get("resourceVersion", "")},
                    q.get("includeObject", "PartialObjectMetadata"))
            if kind == "partial":
                return 200, _partial(obj)
            return 200, obj
        body = parse_body(req.body, h.headers.get("Content-Type"))
        if req.verb == "create":
            if sub:
                raise ApiError(405, "create is not supported on subresources",
                               "MethodNotAllowed")
            out = api.create(rt, version, ns, body, ctx)
            return 201, out, ctx
        if req.verb == "update":
            return 200, api.update(rt, version, ns, name, body, ctx, sub), ctx
        if req.verb == "patch":
            ct = (h.headers.get("Content-Type") or "").split(";")[0].strip()
            ptype = PATCH_TYPES.get(ct)
            if ptype is None or ptype == "apply-cbor":
                raise ApiError(415, "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, "
                               "application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json",
                               "UnsupportedMediaType")
            existed = api.store.get(rt.key, ns, name) is not None
            out = api.patch(rt, version, ns, name, body, ptype, ctx, sub)
            return (200 if existed else 201), out, ctx
        if req.verb == "delete":
            code, out = api.delete(rt, version, ns, name, body, ctx)
            return code, out, ctx
        raise ApiError(405, "method not allowed", "MethodNotAllowed")

    def watch(self, h, req, kind, ml, mf):
        q = req.q
        rt = req.rt
        if req.name:
            name = req.name
            prev = mf
            mf = lambda o: o["metadata"]["name"] == name and (prev is None or prev(o))
        rv = q.get("resourceVersion") or ""
        since = None
        if rv not in ("", "0"):
            try:
                since = int(rv)
            except ValueError:
                raise bad_request("resourceVersion: Invalid value: %s" % json.dumps(rv))
        try:
            timeout = float(q.get("timeoutSeconds") or self.s.opts.watch_timeout)
        except ValueError:
            timeout = self.s.opts.watch_timeout
        filt = WatchFilter(req.ns if rt.namespaced and req.ns else None, ml, mf)
        table = None
        if kind == "table":
            inc = q.get("includeObject", "PartialObjectMetadata")
            table = lambda objs: tables.to_table(
                rt, req.version, [self.api.out(rt, req.version, o) for o in objs],
                {"resourceVersion": objs[0]["metadata"].get("resourceVersion", "")}, inc)
        stream = WatchStream(h, self.api, rt, req.version, filt, table,
                             self.s.opts.bookmark_interval)
        h.streamed = True
        stream.run(since, timeout, q.get("allowWatchBookmarks") in ("true", "1"),
                   q.get("sendInitialEvents") in ("true", "1"))
        return None

    # -- subresources ---------------------------------------------------
    def pod_log(self, req):
        """GET pods/NAME/log: no containers run here, so a pod's "log" is
        what the simulation wrote into its LOG_ANNOTATION (the failed Job
        pods of --fail-image); tailLines and limitBytes as the kubelet."""
        if req.verb != "get":
            raise ApiError(405, "only get is supported on pods/log", "MethodNotAllowed")
        obj = self.api.get(req.rt, req.version, req.ns, req.name)
        text = ((obj["metadata"].get("annotations") or {}).get(LOG_ANNOTATION) or "")
        try:
            tail = int(req.q.get("tailLines") or 0)
            limit = int(req.q.get("limitBytes") or 0)
        except ValueError:
            raise bad_request("tailLines and limitBytes must be integers")
        if tail > 0:
            text = "".join(text.splitlines(True)[-tail:])
        data = text.encode()
        if limit > 0:
            data = data[:limit]
        return 200, data

    def scale(self, req, user):
        rt, api = req.rt, self.api
        h_ctx = make_ctx(user, req.q, req.headers, req.verb)
        spec_path, status_path, sel_path = ".spec.replicas", ".status.replicas", None
        if rt.crd is not None:
            sc = None
            for v in rt.crd["spec"]["versions"]:
                if v["name"] == req.version:
                    sc = (v.get("subresources") or {}).get("scale")
            if sc is None:
                raise ApiError(404, "the server could not find the requested resource",
                               "NotFound")
            spec_path, status_path = sc["specReplicasPath"], sc["statusReplicasPath"]
            sel_path = sc.get("labelSelectorPath")
        obj = api.get(rt, req.version, req.ns, req.name)
        scale = _to_scale(rt, obj, spec_path, status_path, sel_path)
        if req.verb == "get":
            return 200, scale
        body = parse_body(req.body, req.headers.get("Content-Type"))
        if req.verb == "patch":
            from . import patch as p
            ct = (req.headers.get("Content-Type") or "").split(";")[0].strip()
            t = PATCH_TYPES.get(ct, "merge")
            if t == "json":
                body = p.json_patch(scale, body)
            else:
                body = p.merge_patch(scale, body)
        replicas = ((body or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid '
                           'value: %s: must be greater than or equal to 0'
                           % (req.name, json.dumps(replicas)), "Invalid")
        new = deep(obj)
        _set_path(new, spec_path, replicas)
        rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = rv or obj["metadata"]["resourceVersion"]
        out = api.update(rt, req.version, req.ns, req.name, new, h_ctx)
        return 200, _to_scale(rt, out, spec_path, status_path, sel_path)

    def token(self, req, user):
        sa = self.api.store.get("serviceaccounts", req.ns, req.name)
        if sa is None:
            raise not_found(req.rt, req.name)
        body = parse_body(req.body, req.headers.get("Content-Type")) or {}
        spec = body.get("spec") or {}
        secs = int(spec.get("expirationSeconds") or 3600)
        tok, exp = self.s.authn.mint(req.ns, req.name, sa["metadata"]["uid"], secs,
                                     spec.get("audiences"))
        import time
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": req.name, "namespace": req.ns,
                                  "creationTimestamp": None},
                     "spec": {"audiences": spec.get("audiences") or
                              ["https://kubernetes.default.svc.cluster.local"],
                              "expirationSeconds": secs, "boundObjectRef": None},
                     "status": {"token": tok, "expirationTimestamp": time.strftime(
                         "%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}}

    def review(self, req, user):
        if req.verb != "create":
            raise ApiError(405, "method not allowed", "MethodNotAllowed")
        body = parse_body(req.body, req.headers.get("Content-Type")) or {}
        spec = body.get("spec") or {}
        p = req.rt.plural
        out = dict(body)
        out.setdefault("metadata", {"creationTimestamp": None})
        if p == "selfsubjectaccessreviews":
            out["status"] = rbac.review(self.s.authz, user, spec)
        elif p == "subjectaccessreviews":
            who = rbac.User(spec.get("user", ""), spec.get("groups") or [])
            out["status"] = rbac.review(self.s.authz, who, spec)
        elif p == "selfsubjectrulesreviews":
            rules = self.s.authz.rules_for(user, spec.get("namespace", ""))
            if user.is_admin():
                rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
            out["status"] = {"resourceRules": [r for r in rules if "nonResourceURLs" not in r],
                             "nonResourceRules": [r for r in rules if "nonResourceURLs" in r],
                             "incomplete": False}
        elif p == "selfsubjectreviews":
            out["status"] = {"userInfo": {"username": user.name, "groups": user.groups,
                                          **({"uid": user.uid} if user.uid else {})}}
        elif p == "tokenreviews":
            who = self.s.authn.from_token(spec.get("token", ""))
            out["status"] = {"authenticated": True, "user": {
                "username": who.name, "groups": who.groups}} if who else \
                {"authenticated": False, "error": "invalid bearer token"}
        return 201, out


def _get_path(obj, path):
    cur = obj
    for p in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _set_path(obj, path, val):
    parts = path.strip(".").split(".")
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = val


def _to_scale(rt, obj, spec_path, status_path, sel_path):
    m = obj["metadata"]
    if rt.crd is None:
        sel = selectors.selector_string((obj.get("spec") or {}).get("selector") or {})
    else:
        sel = _get_path(obj, sel_path) if sel_path else ""
    st = {"replicas": _get_path(obj, status_path) or 0}
    if sel:
        st["selector"] = sel
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                           "creationTimestamp") if k in m},
            "spec": {"replicas": _get_path(obj, spec_path) or 0}, "status": st}
