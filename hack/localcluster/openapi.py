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


def serve(registry, path, q):
    if path == "/openapi/v2":
        return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.3"},
                "paths": {}, "definitions": {}}
    if path == "/openapi/v3":
        paths = {}
        for g, vs in registry.groups().items():
            for v in vs:
                p = _gv_path(g, v)
                h = hashlib.sha256(json.dumps(_crd_components(registry, g, v),
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
                "paths": {}, "components": {"schemas": _crd_components(registry, g, v)}}
    return None
