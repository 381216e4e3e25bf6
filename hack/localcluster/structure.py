"""How lists merge: the list types and keys of the upstream schemas.

Server-side apply and strategic merge patch both need to know, for a list
at some path, whether it is atomic, a set, or a map keyed by some fields.
Built-ins use the keys the upstream Go types declare (listType/listMapKey
and patchMergeKey tags); custom resources use x-kubernetes-list-type and
x-kubernetes-list-map-keys from their schema (default atomic).
"""

ATOMIC = ("atomic", ())
SET = ("set", ())

# (path suffix of field names, SSA keys, SMP merge key).  Most specific
# first; the first suffix that matches wins.
_BUILTIN = [
    (("metadata", "finalizers"), SET, None),
    (("metadata", "ownerReferences"), ("map", ("uid",)), "uid"),
    (("metadata", "managedFields"), ATOMIC, None),
    (("containers", "ports"), ("map", ("containerPort", "protocol")), "containerPort"),
    (("initContainers", "ports"), ("map", ("containerPort", "protocol")), "containerPort"),
    (("ephemeralContainers", "ports"), ("map", ("containerPort", "protocol")), "containerPort"),
    (("containers",), ("map", ("name",)), "name"),
    (("initContainers",), ("map", ("name",)), "name"),
    (("ephemeralContainers",), ("map", ("name",)), "name"),
    (("env",), ("map", ("name",)), "name"),
    (("volumeMounts",), ("map", ("mountPath",)), "mountPath"),
    (("volumeDevices",), ("map", ("devicePath",)), "devicePath"),
    (("spec", "volumes"), ("map", ("name",)), "name"),
    (("imagePullSecrets",), ("map", ("name",)), "name"),
    (("hostAliases",), ("map", ("ip",)), "ip"),
    (("topologySpreadConstraints",), ("map", ("topologyKey", "whenUnsatisfiable")),
     "topologyKey"),
    (("resourceClaims",), ("map", ("name",)), "name"),
    (("schedulingGates",), ("map", ("name",)), "name"),
    (("status", "conditions"), ("map", ("type",)), "type"),
    (("secrets",), ("map", ("name",)), "name"),
]
_SERVICE_PORTS = (("map", ("port", "protocol")), "port")


def _crd_schema(rt, version):
    for v in rt.crd["spec"].get("versions", ()):
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema") or {}
    return {}


def crd_subschema(schema, names):
    """Walks a structural schema along field names (lists are transparent)."""
    s = schema
    for n in names:
        while s.get("type") == "array":
            s = s.get("items") or {}
        props = s.get("properties")
        if props and n in props:
            s = props[n]
        elif isinstance(s.get("additionalProperties"), dict):
            s = s["additionalProperties"]
        else:
            return None
    return s


def list_type(rt, names, version=None):
    """Returns ("atomic"|"set"|"map", keys) for the list at field path names."""
    if rt.crd is not None and names[:1] != ("metadata",):
        s = crd_subschema(_crd_schema(rt, version or rt.versions[0]), names)
        if not s:
            return ATOMIC
        lt = s.get("x-kubernetes-list-type")
        if lt == "map":
            return ("map", tuple(s.get("x-kubernetes-list-map-keys") or ()))
        if lt == "set":
            return SET
        return ATOMIC
    if rt.plural == "services" and names == ("spec", "ports"):
        return _SERVICE_PORTS[0]
    for suffix, lt, _ in _BUILTIN:
        if names[-len(suffix):] == suffix:
            return lt
    return ATOMIC


def smp_key(rt, names):
    """Strategic-merge key for the list at names: a field name, "" for a
    merging primitive list, or None for replace."""
    if rt.plural == "services" and names == ("spec", "ports"):
        return _SERVICE_PORTS[1]
    for suffix, lt, key in _BUILTIN:
        if names[-len(suffix):] == suffix:
            if lt == SET:
                return ""
            return key
    return None
