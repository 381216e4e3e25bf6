"""Discovery documents: /api, /apis, /api/v1, /apis/{group}/{version}.

Only the legacy (unaggregated) format is served.  kubectl 1.32 asks for
the aggregated apidiscovery.k8s.io/v2 list first, sees a plain
application/json answer and falls back to these documents, as it does
against any server without aggregated discovery.
"""


def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1:6443"}]}


def _group(name, versions):
    vs = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(registry):
    groups = [_group(g, vs) for g, vs in registry.groups().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry, name):
    vs = registry.groups().get(name)
    if not vs:
        return None
    d = _group(name, vs)
    d.update({"kind": "APIGroup", "apiVersion": "v1"})
    return d


_SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
              "token": ["create"], "proxy": ["create", "delete", "get", "patch", "update"],
              "finalize": ["update"], "log": ["get"]}


def resource_list(registry, group, version):
    res = []
    found = False
    for rt in sorted(registry.all(), key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        found = True
        res.append({"name": rt.plural, "singularName": rt.singular,
                    "namespaced": rt.namespaced, "kind": rt.kind,
                    "verbs": rt.verbs, **({"shortNames": rt.short} if rt.short else {}),
                    **({"categories": rt.categories} if rt.categories else {}),
                    "storageVersionHash": ""})
        for sub in sorted(rt.subresources):
            kind = {"scale": "Scale", "token": "TokenRequest",
                    "proxy": "ServiceProxyOptions"}.get(sub, rt.kind)
            d = {"name": rt.plural + "/" + sub, "singularName": "",
                 "namespaced": rt.namespaced, "kind": kind, "verbs": _SUB_VERBS[sub]}
            if sub == "scale":
                d.update({"group": "autoscaling", "version": "v1"})
            if sub == "token":
                d.update({"group": "authentication.k8s.io", "version": "v1"})
            res.append(d)
    if not found:
        return None
    gv = version if not group else group + "/" + version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": res}


def version_info():
    return {"major": "1", "minor": "32", "gitVersion": "v1.32.3-localcluster",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2025-03-11T00:00:00Z",
            "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"}
