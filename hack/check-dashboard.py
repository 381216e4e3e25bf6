#!/usr/bin/python3
"""hack/check-dashboard.py: checks the chart's Grafana dashboard.

  helm template ... | hack/check-dashboard.py render [--absent]
      The rendered stream holds exactly one ConfigMap labelled for Grafana's
      dashboard sidecar (grafana_dashboard: "1") whose one data value is
      valid dashboard JSON: a title, a uid, panels each with a unique id and
      a gridPos, every non-row panel with at least one PromQL target.
      --absent: the stream holds no such ConfigMap. Prints the metric names
      the queries use, one a line.

  hack/check-dashboard.py metrics DASHBOARD.json URL...
      Every metric name in every query of the dashboard (panel targets and
      template variables) is served by one of the /metrics URLs (a sample,
      or the # TYPE line of a family declared before its first sample) (a running
      operator, a running router). Names are taken from the PromQL, not from
      a list: functions, aggregation keywords, label matchers, grouping
      labels, ranges, strings and Grafana variables are removed, and what
      remains are metric names.
"""
import json
import re
import sys
import urllib.request

import yaml

KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "inf", "nan", "le",
}


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\$\{?\w+\}?", "1m", e)                   # Grafana variables
    e = re.sub(r"\{[^{}]*\}", "", e)                      # label matchers
    e = re.sub(r"\[[^\[\]]*\]", "", e)                    # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word, rest = m.group(0), e[m.end():].lstrip()
        if rest.startswith("("):                          # a function call
            continue
        if word.lower() in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def queries(dash):
    """Every PromQL expression of the dashboard: panel targets (rows'
    nested panels too) and template variable queries."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(("panel %r" % p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q)
            out.append(("variable %r" % v.get("name"), m.group(1) if m else q))
    return out


def check_panels(dash):
    problems = []
    for key in ("title", "uid", "panels"):
        if not dash.get(key):
            problems.append("dashboard has no %s" % key)
    ids = set()
    for p in dash.get("panels", []):
        if p.get("id") in ids:
            problems.append("panel id %r repeats" % p.get("id"))
        ids.add(p.get("id"))
        if "gridPos" not in p:
            problems.append("panel %r has no gridPos" % p.get("title"))
        if p.get("type") != "row" and not [t for t in p.get("targets", []) if t.get("expr")]:
            problems.append("panel %r has no PromQL target" % p.get("title"))
    return problems


def render(absent):
    found = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") == "ConfigMap"
             and (d.get("metadata", {}).get("labels") or {}).get("grafana_dashboard") == "1"]
    if absent:
        if found:
            sys.exit("a dashboard ConfigMap was rendered: %s" % found[0]["metadata"]["name"])
        return
    if len(found) != 1:
        sys.exit("want one dashboard ConfigMap, got %d" % len(found))
    data = found[0].get("data") or {}
    if len(data) != 1:
        sys.exit("want one dashboard in the ConfigMap, got %d keys" % len(data))
    dash = json.loads(next(iter(data.values())))
    problems = check_panels(dash)
    if problems:
        sys.exit("\n".join(problems))
    names = set()
    for _, q in queries(dash):
        names |= metric_names(q)
    print("\n".join(sorted(names)))


def served(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    names = set()
    for line in text.splitlines():
        # A family the exporter declared before its first sample has only
        # its "# TYPE name type" line: it is exported all the same.
        m = re.match(r"# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) ", line)
        if m:
            names.add(m.group(1))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


def metrics(path, urls):
    with open(path) as f:
        dash = json.load(f)
    have = set()
    for u in urls:
        have |= served(u)
    missing = []
    total = 0
    for where, q in queries(dash):
        names = metric_names(q)
        if not names:
            missing.append("%s: no metric name found in %r" % (where, q))
        for n in sorted(names):
            total += 1
            if n not in have:
                missing.append("%s: %s is not served by %s" % (where, n, ", ".join(urls)))
    if missing:
        sys.exit("\n".join(missing))
    print("%d metric references in %d queries, all served" % (total, len(queries(dash))))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "render":
        render("--absent" in sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "metrics":
        metrics(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
