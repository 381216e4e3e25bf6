"""Server-side apply and managedFields tracking.

A field set is a Python set of paths; a path is a tuple of FieldsV1 keys
("f:spec", "k:{\"name\":\"app\"}", "v:\"x\"", ...).  A member path is a
field the manager owns: leaves, keyed list items ("." in FieldsV1) and set
values.  Managers are the entries of metadata.managedFields.
"""
import copy
import json

from .errors import ApiError
from . import structure

# Fields nobody owns (upstream strips them before computing field sets).
_IGNORED_META = {"f:name", "f:namespace", "f:uid", "f:resourceVersion",
                 "f:generation", "f:creationTimestamp", "f:managedFields",
                 "f:selfLink", "f:deletionTimestamp",
                 "f:deletionGracePeriodSeconds"}


def _kjson(d):
    return json.dumps(d, separators=(",", ":"))


# Key fields with a schema default: an item that omits them is keyed by
# the default, as upstream's typed merge does after defaulting.
_KEY_DEFAULTS = {"protocol": "TCP"}


def keyval(item, keys):
    return {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in keys
            if k in item or k in _KEY_DEFAULTS}


def fieldset(rt, obj, version=None):
    out = set()
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if "f:" + mk not in _IGNORED_META:
                    _walk(rt, mv, ("f:metadata", "f:" + mk), ("metadata", mk),
                          out, version)
            continue
        _walk(rt, v, ("f:" + k,), (k,), out, version)
    return out


def _walk(rt, v, path, names, out, version):
    if isinstance(v, dict):
        if not v:
            out.add(path)
        for k, x in v.items():
            _walk(rt, x, path + ("f:" + k,), names + (k,), out, version)
    elif isinstance(v, list):
        lt, keys = structure.list_type(rt, names, version)
        if lt == "map" and keys and all(isinstance(i, dict) for i in v):
            for item in v:
                kp = path + ("k:" + _kjson(keyval(item, keys)),)
                out.add(kp)
                for k, x in item.items():
                    _walk(rt, x, kp + ("f:" + k,), names + (k,), out, version)
        elif lt == "set":
            for item in v:
                out.add(path + ("v:" + _kjson(item),))
        else:
            out.add(path)
    else:
        out.add(path)


def to_fieldsv1(paths):
    root = {}
    for p in sorted(paths):
        node = root
        for el in p:
            node = node.setdefault(el, {})
        node["."] = True
    return _render(root)


def _render(node):
    out = {}
    member = node.pop(".", False)
    if member and node:
        out["."] = {}
    for k in sorted(node):
        out[k] = _render(node[k])
    return out


def from_fieldsv1(d, prefix=()):
    out = set()
    for k, v in (d or {}).items():
        if k == ".":
            out.add(prefix)
        elif not v:
            out.add(prefix + (k,))
        else:
            out |= from_fieldsv1(v, prefix + (k,))
    return out


_MISSING = object()


def value_at(obj, path):
    cur = obj
    for el in path:
        kind, rest = el[0], el[2:]
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return _MISSING
            cur = cur[rest]
        elif kind == "k":
            want = json.loads(rest)
            if not isinstance(cur, list):
                return _MISSING
            cur = next((i for i in cur if isinstance(i, dict) and
                        all(i.get(a, _KEY_DEFAULTS.get(a)) == b
                            for a, b in want.items())), _MISSING)
            if cur is _MISSING:
                return cur
        elif kind == "v":
            val = json.loads(rest)
            if not isinstance(cur, list) or val not in cur:
                return _MISSING
            cur = val
        else:
            return _MISSING
    return cur


def remove_at(obj, path):
    """Removes the field or list item at path from obj (mutates obj)."""
    parent = value_at(obj, path[:-1])
    el = path[-1]
    kind, rest = el[0], el[2:]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(
            i.get(a, _KEY_DEFAULTS.get(a)) == b for a, b in want.items()))]
    elif kind == "v" and isinstance(parent, list):
        val = json.loads(rest)
        parent[:] = [i for i in parent if i != val]


def path_string(path):
    """Upstream's fieldpath.Path.String(): .spec.containers[name="x"].image"""
    s = ""
    for el in path:
        kind, rest = el[0], el[2:]
        if kind == "f":
            s += "." + rest
        elif kind == "k":
            d = json.loads(rest)
            s += "[" + ",".join("%s=%s" % (k, _kjson(v)) for k, v in d.items()) + "]"
        elif kind == "v":
            s += "[=%s]" % rest
    return s


def structural_merge(rt, live, applied, names=(), version=None):
    if not isinstance(applied, dict) or not isinstance(live, dict):
        return copy.deepcopy(applied)
    out = dict(live)
    for k, v in applied.items():
        cur = out.get(k)
        path = names + (k,)
        if isinstance(v, dict) and isinstance(cur, dict):
            out[k] = structural_merge(rt, cur, v, path, version)
        elif isinstance(v, list) and isinstance(cur, list):
            lt, keys = structure.list_type(rt, path, version)
            if lt == "map" and keys:
                res = list(cur)
                for item in v:
                    if not isinstance(item, dict):
                        res = copy.deepcopy(v)
                        break
                    kv = keyval(item, keys)
                    idx = next((i for i, o in enumerate(res) if isinstance(o, dict)
                                and keyval(o, keys) == kv), None)
                    if idx is None:
                        res.append(copy.deepcopy(item))
                    else:
                        res[idx] = structural_merge(rt, res[idx], item, path, version)
                out[k] = res
            elif lt == "set":
                out[k] = list(cur) + [x for x in v if x not in cur]
            else:
                out[k] = copy.deepcopy(v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Entry:
    def __init__(self, manager, operation, api_version, subresource, fields,
                 time=None):
        self.manager, self.operation = manager, operation
        self.api_version, self.subresource = api_version, subresource or ""
        self.fields, self.time = fields, time

    def ident(self):
        return (self.manager, self.operation, self.subresource)

    def to_json(self, now):
        d = {"manager": self.manager, "operation": self.operation,
             "apiVersion": self.api_version, "time": self.time or now,
             "fieldsType": "FieldsV1", "fieldsV1": to_fieldsv1(self.fields)}
        if self.subresource:
            d["subresource"] = self.subresource
        return d


def entries(obj):
    out = []
    for m in (obj or {}).get("metadata", {}).get("managedFields") or ():
        out.append(Entry(m.get("manager", ""), m.get("operation", "Update"),
                         m.get("apiVersion", ""), m.get("subresource", ""),
                         from_fieldsv1(m.get("fieldsV1")), m.get("time")))
    return out


def _scope(paths, subresource, has_status):
    """Restricts a field set to what a request on subresource may own."""
    if not has_status:
        return paths
    if subresource == "status":
        return {p for p in paths if p[:1] == ("f:status",)}
    return {p for p in paths if p[:1] != ("f:status",)}


def store_entries(obj, ents, now):
    ents = [e for e in ents if e.fields]
    obj.setdefault("metadata", {})["managedFields"] = [e.to_json(now) for e in ents]
    if not ents:
        del obj["metadata"]["managedFields"]


def track_update(rt, old, new, manager, api_version, subresource, now,
                 has_status=False, version=None):
    """Records a create/update/patch by manager in new's managedFields."""
    new_set = _scope(fieldset(rt, new, version), subresource, has_status)
    if old is None:
        changed, removed = new_set, set()
        ents = []
    else:
        old_set = _scope(fieldset(rt, old, version), subresource, has_status)
        changed = {p for p in new_set if p not in old_set or
                   value_at(old, p) != value_at(new, p)}
        removed = old_set - new_set
        ents = entries(old)
    if not changed and not removed and old is not None:
        new["metadata"]["managedFields"] = old["metadata"].get("managedFields")
        if new["metadata"]["managedFields"] is None:
            del new["metadata"]["managedFields"]
        return
    mine = None
    for e in ents:
        if e.ident() == (manager, "Update", subresource or ""):
            mine = e
        else:
            e.fields -= changed | removed
    if mine is None:
        mine = Entry(manager, "Update", api_version, subresource, set())
        ents.append(mine)
    mine.fields = (mine.fields - removed) | changed
    mine.api_version, mine.time = api_version, None
    store_entries(new, ents, now)


def server_side_apply(rt, live, applied, manager, force, api_version,
                      subresource, now, has_status=False, version=None):
    """Returns the new object; raises a 409 ApiError on conflicts."""
    applied_set = _scope(fieldset(rt, applied, version), subresource, has_status)
    base = live or {"apiVersion": applied.get("apiVersion"),
                    "kind": applied.get("kind"), "metadata": {}}
    body = {k: v for k, v in applied.items() if k != "status"} \
        if has_status and subresource != "status" else applied
    if has_status and subresource == "status":
        body = {"status": applied.get("status") or {}}
    merged = structural_merge(rt, base, body, (), version)
    meta_in = applied.get("metadata") or {}
    merged["metadata"] = dict(merged.get("metadata") or {})
    for k in ("name", "namespace"):
        if k in meta_in:
            merged["metadata"][k] = meta_in[k]
    ents = entries(live)
    me = (manager, "Apply", subresource or "")
    conflicts = []
    for e in ents:
        if e.ident() == me:
            continue
        for p in e.fields & applied_set:
            if p[-1].startswith("k:"):
                continue
            if value_at(base, p) is not _MISSING and value_at(base, p) != value_at(merged, p):
                conflicts.append((e, p))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for e, p in conflicts:
        e.fields.discard(p)
    mine = next((e for e in ents if e.ident() == me), None)
    if mine is not None:
        others = set()
        for e in ents:
            if e is not mine:
                others |= e.fields
        gone = mine.fields - applied_set
        for p in sorted(gone, key=len, reverse=True):
            if p in others or any(o[:len(p)] == p for o in others):
                continue
            if any(a[:len(p)] == p for a in applied_set):
                continue
            remove_at(merged, p)
        mine.fields = applied_set
        mine.api_version, mine.time = api_version, None
    else:
        ents.append(Entry(manager, "Apply", api_version, subresource, applied_set))
    store_entries(merged, ents, now)
    return merged


def _who(e):
    if e.operation == "Update":
        return '"%s" using %s' % (e.manager, e.api_version)
    return '"%s"' % e.manager


def _conflict_error(conflicts):
    conflicts.sort(key=lambda c: (_who(c[0]), path_string(c[1])))
    causes = [{"reason": "FieldManagerConflict",
               "message": "conflict with %s" % _who(e),
               "field": path_string(p)} for e, p in conflicts]
    if len(conflicts) == 1:
        e, p = conflicts[0]
        msg = "Apply failed with 1 conflict: conflict with %s: %s" % (
            _who(e), path_string(p))
    else:
        lines, seen = [], {}
        for e, p in conflicts:
            seen.setdefault(_who(e), []).append(path_string(p))
        for who, paths in seen.items():
            lines.append("conflicts with %s:" % who)
            lines.extend("- " + p for p in paths)
        msg = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    return ApiError(409, msg, "Conflict", {"causes": causes})
