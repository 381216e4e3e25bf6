"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge
patch, the three PATCH bodies kubectl and helm send besides apply."""
import copy
import json

from .errors import ApiError, bad_request
from . import structure


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur[p]
    return cur


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    try:
        for op in ops:
            kind = op.get("op")
            parts = _pointer(op.get("path", ""))
            if kind in ("move", "copy"):
                val = copy.deepcopy(_walk(doc, _pointer(op["from"])))
                if kind == "move":
                    doc = _remove(doc, _pointer(op["from"]))
                doc = _add(doc, parts, val)
            elif kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                doc = _remove(doc, parts)
            elif kind == "replace":
                _walk(doc, parts)       # must exist
                doc = _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "test":
                if _walk(doc, parts) != op.get("value"):
                    raise ApiError(422, "the server rejected our request due to "
                                   "an error in our request", "Invalid")
            else:
                raise bad_request("Unexpected kind: %s" % kind)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(422, "the server rejected our request due to an error in "
                       "our request: %s" % e, "Invalid")
    return doc


def _add(doc, parts, val):
    if not parts:
        return val
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(val)
        else:
            i = int(last)
            if i > len(parent):
                raise IndexError(last)
            parent.insert(i, val)
    else:
        parent[last] = val
    return doc


def _remove(doc, parts):
    parent = _walk(doc, parts[:-1])
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    else:
        del parent[parts[-1]]
    return doc


# --- strategic merge patch ---------------------------------------------

def _strip(v):
    """Removes $-directives from a value inserted verbatim."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items()
                if not k.startswith("$") and x is not None}
    if isinstance(v, list):
        return [_strip(x) for x in v
                if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    return v


def strategic_merge(rt, obj, patch, names=()):
    if not isinstance(patch, dict):
        return _strip(patch)
    if not isinstance(obj, dict) or patch.get("$patch") == "replace":
        return _strip(patch)
    out = dict(obj)
    orders = {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            out[f] = [x for x in out.get(f) or [] if x not in v]
            continue
        if k.startswith("$"):
            continue
        path = names + (k,)
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _merge_list(rt, out[k], v, path)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            else:
                out[k] = strategic_merge(rt, out[k], v, path)
        else:
            out[k] = _strip(v)
    retain = patch.get("$retainKeys")
    if retain is not None:
        for k in list(out):
            if k not in retain:
                del out[k]
    for f, order in orders.items():
        out[f] = _reorder(rt, out.get(f) or [], order, names + (f,))
    return out


def _merge_list(rt, cur, patch, path):
    key = structure.smp_key(rt, path)
    if key is None:
        return _strip(patch)
    if key == "":
        out = list(cur)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    out = list(cur)
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request("unable to merge list %s: element is not a map"
                              % ".".join(path))
        if item.get("$patch") == "replace":
            return [_strip(x) for x in patch if x is not item]
        kv = item.get(key)
        idx = next((i for i, o in enumerate(out)
                    if isinstance(o, dict) and o.get(key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(_strip(item))
        else:
            out[idx] = strategic_merge(rt, out[idx], item, path)
    return out


def _reorder(rt, items, order, path):
    key = structure.smp_key(rt, path)
    if key:
        pos = {json.dumps(o.get(key)): i for i, o in enumerate(order)
               if isinstance(o, dict)}
        ident = lambda x: json.dumps(x.get(key)) if isinstance(x, dict) else None
    else:
        pos = {json.dumps(o): i for i, o in enumerate(order)}
        ident = json.dumps
    ordered = sorted((x for x in items if ident(x) in pos), key=lambda x: pos[ident(x)])
    rest = [x for x in items if ident(x) not in pos]
    return ordered + rest
