"""Parses Kubernetes resource quantities ("10Gi", "500m", "1e3")."""
import re
from fractions import Fraction

_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
           "Ei": 2**60, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6),
           "m": Fraction(1, 1000), "": 1, "k": 10**3, "M": 10**6, "G": 10**9,
           "T": 10**12, "P": 10**15, "E": 10**18}
_RE = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse(q):
    if isinstance(q, (int, float)):
        return Fraction(q)
    m = _RE.match(str(q).strip())
    if not m:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    num = Fraction(m.group(1))
    suf = m.group(2) or ""
    if suf[:1] in ("e", "E"):
        return num * Fraction(10) ** int(suf[1:])
    return num * _SUFFIX[suf]


# Canonical form, as a real API server stores a Quantity field: upstream's
# resource.Quantity.CanonicalizeBytes (k8s.io/apimachinery/pkg/api/resource,
# quantity.go and amount.go). The suffix picks the format: binary (Ki..Ei),
# decimal exponent (e3) or decimal SI (none, n..E). Values are first rounded
# up to nano precision. A binary value below 1024, or not a whole number,
# prints as decimal SI. Decimal forms print the integer mantissa with the
# exponent lowered to a multiple of 3 (1.5 -> 1500m, 1000m -> 1, 2000 -> 2k);
# binary ones divide by 1024 while they can (1024Mi -> 1Gi).
_DEC_SI = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T",
           15: "P", 18: "E"}
_BIN_SI = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


def canonical(q):
    """The canonical string of quantity q; q itself when it does not parse
    (validation reports it)."""
    if isinstance(q, bool):
        return q
    try:
        value = parse(q)
    except (ValueError, ZeroDivisionError):
        return q
    m = _RE.match(str(q).strip())
    suf = m.group(2) or ""
    fmt = "bin" if suf.endswith("i") else "exp" if suf[:1] in ("e", "E") else "si"
    nanos = value * 10**9
    if nanos.denominator != 1:      # round up (away from zero) to nano precision
        n = -((-abs(nanos)) // 1)
        value = Fraction(n if value > 0 else -n, 10**9)
    if value == 0:
        return "0"
    if fmt == "bin" and (abs(value) < 1024 or value.denominator != 1):
        fmt = "si"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == "bin":
        n, k = int(value), 0
        while n % 1024 == 0 and k < len(_BIN_SI) - 1:
            n //= 1024
            k += 1
        return "%s%d%s" % (sign, n, _BIN_SI[k])
    e = -9
    n = int(value * 10**9)
    while n % 10 == 0:
        n //= 10
        e += 1
    r = e % 3
    n *= 10**r
    e -= r
    if fmt == "exp":
        return "%s%d%s" % (sign, n, "e%d" % e if e else "")
    while e > 18:                   # beyond E, the mantissa grows
        n *= 10
        e -= 1
    return "%s%d%s" % (sign, n, _DEC_SI[e])
