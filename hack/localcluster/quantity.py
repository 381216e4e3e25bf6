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
