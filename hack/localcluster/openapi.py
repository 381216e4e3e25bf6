"""OpenAPI documents: /openapi/v2 (a minimal Swagger 2.0 document) and
/openapi/v3 (an index plus one document per group-version, carrying the
schemas of CRDs so that `kubectl explain` works for them)."""
import hashlib
import json

from .schema import version_schema


def _gv_path(group, version):
    return "api/" + version if not group else "apis/%s/%s" % (group, version)


def _defname(group, version, kind):
    g = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return "%s.%s.%s" % (g, version, kind)


def _crd_components(registry, group, version):
    comps = {}
    for rt in registry.all():
        if rt.crd is None or rt.group != group or version not in rt.versions:
            continue
        s = json.loads(json.dumps(version_schema(rt.crd, version)))
        props = s.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string", "description":
                                        "APIVersion defines the versioned schema of this "
                                        "representation of an object."})
        props.setdefault("kind", {"type": "string", "description": "Kind is a string value "
                                  "representing the REST resource this object represents."})
        props["metadata"] = {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery."
                                        "pkg.apis.meta.v1.ObjectMeta"}],
                             "description": "Standard object's metadata."}
        s["x-kubernetes-group-version-kind"] = [{"group": group, "version": version,
                                                 "kind": rt.kind}]
        comps[_defname(group, version, rt.kind)] = s
    comps["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = {
        "type": "object", "description": "ObjectMeta is metadata that all persisted "
        "resources must have.", "properties": {
            "name": {"type": "string"}, "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}}}}
    return comps


_WRITE_PARAMS = [{"name": n, "in": "query", "schema": {"type": t}, "uniqueItems": True}
                 for n, t in (("dryRun", "string"), ("fieldManager", "string"),
                              ("fieldValidation", "string"), ("pretty", "string"))]
_FORCE = {"name": "force", "in": "query", "schema": {"type": "boolean"}, "uniqueItems": True}


def _paths(registry, group, version):
    """Operations per resource, each tagged with its GVK and listing the
    query parameters kubectl probes (fieldValidation) before it decides
    to let the server validate."""
    out = {}
    prefix = "/" + _gv_path(group, version)
    for rt in registry.all():
        if rt.group != group or version not in rt.versions or rt.group == "events.k8s.io" \
                and group != "events.k8s.io":
            continue
        gvk = {"group": group, "version": version, "kind": rt.kind}
        base = prefix + ("/namespaces/{namespace}/" if rt.namespaced else "/") + rt.plural
        ref = {"$ref": "#/components/schemas/" + _defname(group, version, rt.kind)}
        body = {"content": {"application/json": {"schema": ref}}}

        def op(action, params, with_body=False):
            d = {"operationId": action + rt.kind, "x-kubernetes-action": action,
                 "x-kubernetes-group-version-kind": gvk, "parameters": params,
                 "responses": {"200": body}}
            if with_body:
                d["requestBody"] = body
            return d
        out[base] = {"get": op("list", []), "post": op("post", _WRITE_PARAMS, True)}
        if rt.virtual:
            out[base] = {"post": op("post", _WRITE_PARAMS, True)}
            continue
        out[base + "/{name}"] = {"get": op("get", []), "put": op("put", _WRITE_PARAMS, True),
                                 "patch": op("patch", _WRITE_PARAMS + [_FORCE], True),
                                 "delete": op("delete", [])}
    return out


def serve(registry, path, q):
    if path == "/openapi/v2":
        return None
    if path == "/openapi/v3":
        paths = {}
        for g, vs in registry.groups().items():
            for v in vs:
                p = _gv_path(g, v)
                h = hashlib.sha256(json.dumps([_crd_components(registry, g, v),
                                               sorted(_paths(registry, g, v))],
                                              sort_keys=True).encode()).hexdigest()[:32].upper()
                paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, h)}
        return {"paths": paths}
    if path.startswith("/openapi/v3/"):
        rest = path[len("/openapi/v3/"):].split("/")
        if rest[0] == "api" and len(rest) == 2:
            g, v = "", rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            g, v = rest[1], rest[2]
        else:
            return None
        if v not in registry.groups().get(g, []):
            return None
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.3"},
                "paths": _paths(registry, g, v),
                "components": {"schemas": _components(registry, g, v)}}
    return None


def _components(registry, g, v):
    comps = _crd_components(registry, g, v)
    for rt in registry.all():
        if rt.crd is None and rt.group == g and v in rt.versions:
            comps.setdefault(_defname(g, v, rt.kind), {
                "type": "object", "description": "%s (schema not published by the local "
                "cluster)" % rt.kind, "x-kubernetes-group-version-kind": [
                    {"group": g, "version": v, "kind": rt.kind}],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s."
                                                               "apimachinery.pkg.apis.meta.v1."
                                                               "ObjectMeta"}]},
                               "spec": {"type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True},
                               "status": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}})
    return comps
