"""Structural-schema handling for custom resources: pruning, defaulting
and validation, as apiextensions-apiserver does on create and update.

CEL rules (x-kubernetes-validations) are not evaluated: see
docs/local-cluster.md.
"""
import copy
import json
import re

_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def _type_name(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _type_ok(t, v):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool) or \
            (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    py = _TYPES.get(t)
    return py is None or isinstance(v, py)


def _child(s, k):
    props = s.get("properties") or {}
    if k in props:
        return props[k]
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        return ap
    return None


def prune(s, v, path, out, root=False):
    """Drops fields the schema does not know; records their paths in out."""
    if isinstance(v, dict):
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        embedded = s.get("x-kubernetes-embedded-resource")
        for k in list(v):
            if (root or embedded) and k in ("apiVersion", "kind", "metadata"):
                continue
            c = _child(s, k)
            if c is None:
                if not preserve and s.get("additionalProperties") is not True:
                    out.append(_join(path, k))
                    del v[k]
                continue
            prune(c, v[k], _join(path, k), out)
    elif isinstance(v, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                prune(items, x, "%s[%d]" % (path, i), out)


def default(s, v):
    """Applies schema defaults in place (objects only; returns v)."""
    if isinstance(v, dict):
        for k, c in (s.get("properties") or {}).items():
            if "default" in c and (k not in v or (v[k] is None and not c.get("nullable"))):
                v[k] = copy.deepcopy(c["default"])
        for k, x in list(v.items()):
            c = _child(s, k)
            if c is not None:
                if x is None and not c.get("nullable") and "default" not in c:
                    del v[k]        # upstream prunes non-nullable nulls
                    continue
                default(c, x)
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for x in v:
            default(s["items"], x)
    return v


def _join(path, k):
    return k if not path else path + "." + k


def _num(v):
    return json.dumps(v)


def validate(s, v, path, out):
    """Appends (reason, field, message) causes for v against schema s."""
    if v is None:
        if not s.get("nullable") and s.get("type"):
            out.append(("FieldValueTypeInvalid", path, 'Invalid value: "null": %s in body '
                        'must be of type %s: "null"' % (path, s["type"])))
        return
    if s.get("x-kubernetes-int-or-string"):
        if not (isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))):
            out.append(("FieldValueTypeInvalid", path, 'Invalid value: "%s": %s in body '
                        'must be of type integer,string: "%s"'
                        % (_type_name(v), path, _type_name(v))))
            return
    elif s.get("type") and not _type_ok(s["type"], v):
        out.append(("FieldValueTypeInvalid", path, 'Invalid value: "%s": %s in body must '
                    'be of type %s: "%s"' % (_type_name(v), path, s["type"], _type_name(v))))
        return
    if "enum" in s and v not in s["enum"]:
        out.append(("FieldValueNotSupported", path, "Unsupported value: %s: supported "
                    "values: %s" % (json.dumps(v), ", ".join(json.dumps(e) for e in s["enum"]))))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        _numeric(s, v, path, out)
    elif isinstance(v, str):
        _string(s, v, path, out)
    elif isinstance(v, list):
        _array(s, v, path, out)
    elif isinstance(v, dict):
        for r in s.get("required") or ():
            if r not in v:
                out.append(("FieldValueRequired", _join(path, r), "Required value"))
        for k, x in v.items():
            if not path and k in ("apiVersion", "kind", "metadata"):
                continue
            c = _child(s, k)
            if c is not None:
                validate(c, x, _join(path, k), out)
        if "maxProperties" in s and len(v) > s["maxProperties"]:
            out.append(("FieldValueTooMany", path, "Too many: %d: must have at most %d "
                        "items" % (len(v), s["maxProperties"])))
    for sub in s.get("allOf") or ():
        validate(sub, v, path, out)


def _numeric(s, v, path, out):
    mn, mx = s.get("minimum"), s.get("maximum")
    if mn is not None:
        if s.get("exclusiveMinimum") and v <= mn:
            out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should "
                        "be greater than %s" % (_num(v), path, _num(mn))))
        elif v < mn:
            out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should "
                        "be greater than or equal to %s" % (_num(v), path, _num(mn))))
    if mx is not None:
        if s.get("exclusiveMaximum") and v >= mx:
            out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should "
                        "be less than %s" % (_num(v), path, _num(mx))))
        elif v > mx:
            out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should "
                        "be less than or equal to %s" % (_num(v), path, _num(mx))))
    mo = s.get("multipleOf")
    if mo and (v / mo) != int(v / mo):
        out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should be "
                    "a multiple of %s" % (_num(v), path, _num(mo))))


def _string(s, v, path, out):
    if "maxLength" in s and len(v) > s["maxLength"]:
        n = s["maxLength"]
        out.append(("FieldValueTooLong", path, "Too long: may not be more than %d %s"
                    % (n, "byte" if n == 1 else "bytes")))
    if "minLength" in s and len(v) < s["minLength"]:
        out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should be "
                    "at least %d chars long" % (json.dumps(v), path, s["minLength"])))
    if "pattern" in s:
        try:
            ok = re.search(s["pattern"], v) is not None
        except re.error:
            ok = True
        if not ok:
            out.append(("FieldValueInvalid", path, "Invalid value: %s: %s in body should "
                        "match '%s'" % (json.dumps(v), path, s["pattern"])))


def _array(s, v, path, out):
    if "maxItems" in s and len(v) > s["maxItems"]:
        out.append(("FieldValueTooMany", path, "Too many: %d: must have at most %d items"
                    % (len(v), s["maxItems"])))
    if "minItems" in s and len(v) < s["minItems"]:
        out.append(("FieldValueInvalid", path, "Invalid value: %d: %s in body should have "
                    "at least %d items" % (len(v), path, s["minItems"])))
    lt = s.get("x-kubernetes-list-type")
    if lt == "set" or s.get("uniqueItems"):
        seen = []
        for i, x in enumerate(v):
            if x in seen:
                out.append(("FieldValueDuplicate", "%s[%d]" % (path, i),
                            "Duplicate value: %s" % json.dumps(x)))
            seen.append(x)
    elif lt == "map":
        keys = s.get("x-kubernetes-list-map-keys") or []
        seen = []
        for i, x in enumerate(v):
            if isinstance(x, dict):
                kv = {k: x.get(k) for k in keys}
                if kv in seen:
                    out.append(("FieldValueDuplicate", "%s[%d]" % (path, i),
                                "Duplicate value: map[string]interface {}{%s}" % ", ".join(
                                    '"%s":%s' % (k, json.dumps(val)) for k, val in kv.items())))
                seen.append(kv)
    items = s.get("items")
    if isinstance(items, dict):
        for i, x in enumerate(v):
            validate(items, x, "%s[%d]" % (path, i), out)


def version_schema(crd, version):
    for v in crd["spec"].get("versions") or ():
        if v.get("name") == version:
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or \
                {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def process(crd, version, obj):
    """Prunes, defaults and validates obj in place.

    Returns (causes, pruned_paths)."""
    s = version_schema(crd, version)
    pruned = []
    prune(s, obj, "", pruned, root=True)
    default(s, obj)
    causes = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    validate(dict(s, required=[r for r in s.get("required") or ()
                               if r not in ("apiVersion", "kind", "metadata")]),
             body, "", causes)
    return causes, pruned
