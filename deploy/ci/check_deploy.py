"""Static and live checks of the deployment files (run by deploy/ci/validate-deploy).

  python deploy/ci/check_deploy.py structure
      Dashboards are valid JSON with the structure Grafana and the provisioning expect; every
      alert has `for`, severity, summary, description and a runbook_url whose anchor is a
      heading of docs/runbook.md; every alert fires in at least one promtool test; every
      rapport metric named in the alert rules and the dashboards exists in the code; the
      compose file pins its images, gives every long-running service a health check and lets
      a long-running service wait for every one-shot service (so `up --wait` returns).
  python deploy/ci/check_deploy.py promql --promtool PATH
      Every Prometheus expression of the dashboards parses (through `promtool check rules`).
  python deploy/ci/check_deploy.py clickhouse --url http://127.0.0.1:8123
      Every ClickHouse query of the dashboards (panels and variables) runs on that server, in a
      scratch database migrated with schemas/clickhouse/*.sql (dropped afterwards) and holding
      the worked example of METRICS.md section 8; the scorecard panels must show its figures.
  python deploy/ci/check_deploy.py chdb
      The same queries on current ClickHouse embedded through chDB (needs chdb-core).

Grafana macros and dashboard variables are replaced by concrete values the way the ClickHouse
plugin expands them ($__timeFilter(c) -> c >= toDateTime(F) AND c <= toDateTime(T), ...).
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/datasources.yml"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
ALERT_TESTS = ROOT / "deploy/prometheus/alerts.test.yml"
RUNBOOK = ROOT / "docs/runbook.md"
COMPOSE = ROOT / "docker-compose.yml"
CH_TYPE = "grafana-clickhouse-datasource"
PROM_TYPE = "prometheus"

# A fixed time range (March 2026, the METRICS.md worked example's month) and variable values.
FROM, TO = 1772323200, 1775001599
CASES = [{"brand": "acme", "platform": "all"}, {"brand": "acme", "platform": "x"}]

# METRICS.md section 8: brand acme on X, Monday 2026-03-02 (UTC), business hours 09-17, SLA 1 h.
# T1 mentioned 10:00, answered 10:30 (1,800 s); T2 DM 16:00, liked 16:10, answered Tuesday
# 09:30 (63,000 s, 5,400 s of business time, SLA deadline Monday 17:00); T3 comment 18:00,
# never answered (deadline Tuesday 10:00). The brand replied once in public and posted once.
# Times are epoch seconds so the server's timezone does not matter.
FIXTURE = [
    """INSERT INTO threads (thread_id, brand_id, platform, user_id, opened_channel, opened_at,
        opening_item_id, inbound_items, first_response_at, first_response_item_id, response_seconds,
        business_response_seconds, sla_deadline_at, acknowledged_at, moved_private, user_followers,
        follower_band, state, version) VALUES
        (1, 'acme', 'x', 'u1', 'public', 1772445600, 'i1', 2, 1772447400, 'o1', 1800, 1800, 1772449200, NULL, 0, NULL, 'unknown', 'answered', 1),
        (2, 'acme', 'x', 'u2', 'private', 1772467200, 'i3', 1, 1772530200, 'o3', 63000, 5400, 1772470800, 1772467800, 0, NULL, 'unknown', 'answered', 1),
        (3, 'acme', 'x', 'u3', 'public', 1772474400, 'i4', 1, NULL, NULL, NULL, NULL, 1772532000, NULL, 0, NULL, 'unknown', 'closed_unanswered', 1)""",
    """INSERT INTO brand_daily (brand_id, platform, day, kafka_partition, threads_opened,
        brand_posts, brand_replies, brand_dms, inbound_items, version)
        VALUES ('acme', 'x', '2026-03-02', 0, 3, 1, 1, 1, 5, 1)""",
]
# What the scorecard panels must show for it (measured at the end of March).
EXPECTED = {
    "Response rates": {
        "Response rate 24 h": 2 / 3,
        "Response rate 7 d": 2 / 3,
        "Answered within 1 h": 1 / 3,
        "Acknowledged within 24 h": 2 / 3,
        "SLA attainment": 1 / 3,
    },
    "First response time": {"FRT p50": 1800, "FRT p90": 63000, "FRT mean": 32400, "Business-hours FRT p50": 1800},
    "Threads": {"Threads opened": 3, "Answered": 2, "At least 24 h old": 3},
    "Reciprocity and personal touch": {"Conversation share": 0.5},
    "Brand activity": {"Inbound items": 5, "Replies": 1, "Original posts": 1, "DMs": 1},
    "Backlog at the end of the range": {"Pending threads": 0},
    "Response rate within 24 h by follower band": {"Follower band": "unknown", "Response rate 24 h": 2 / 3},
}
PROM_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

failures = []


def fail(msg):
    failures.append(msg)


def load_dashboards():
    out = []
    for path in DASHBOARDS:
        try:
            out.append((path, json.loads(path.read_text())))
        except json.JSONDecodeError as e:
            fail(f"{path.relative_to(ROOT)}: invalid JSON: {e}")
    if not out:
        fail("no dashboards in deploy/grafana/dashboards")
    return out


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows keep their panels inside


def queries(dashboards, kind):
    """(where, text) of every query of a datasource type: panel targets and variables."""
    for path, dash in dashboards:
        name = path.name
        for p in panels_of(dash):
            for t in p.get("targets", []):
                ds = t.get("datasource") or p.get("datasource") or {}
                if ds.get("type") != kind:
                    continue
                text = t.get("rawSql") if kind == CH_TYPE else t.get("expr")
                yield f"{name} panel {p.get('id')} '{p.get('title')}'", text
        for v in dash.get("templating", {}).get("list", []):
            ds = v.get("datasource") or {}
            if v.get("type") == "query" and ds.get("type") == kind:
                q = v.get("query")
                if isinstance(q, dict):
                    q = q.get("rawSql") or q.get("query")
                yield f"{name} variable ${v.get('name')}", q


# ---------------------------------------------------------------- structure


def check_dashboard(path, dash, ds_uids):
    rel = path.relative_to(ROOT)
    for key in ("uid", "title", "panels", "schemaVersion", "templating", "time"):
        if key not in dash:
            fail(f"{rel}: missing `{key}`")
    if not re.fullmatch(r"[a-z0-9-]{1,40}", str(dash.get("uid", ""))):
        fail(f"{rel}: uid must be 1-40 characters of a-z, 0-9, -")
    ids = set()
    var_names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    for p in panels_of(dash):
        pid = p.get("id")
        where = f"{rel} panel {pid} '{p.get('title')}'"
        if not isinstance(pid, int) or pid in ids:
            fail(f"{where}: panel ids must be unique integers")
        ids.add(pid)
        for key in ("type", "title", "gridPos"):
            if key not in p:
                fail(f"{where}: missing `{key}`")
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh") or g.get("x", 0) + g.get("w", 0) > 24:
            fail(f"{where}: gridPos needs integer x, y, w, h within 24 columns")
        if p.get("type") == "row":
            continue
        if not p.get("description"):
            fail(f"{where}: every panel says what it shows (description)")
        targets = p.get("targets") or []
        if not targets:
            fail(f"{where}: no query")
        for t in targets:
            ds = t.get("datasource") or p.get("datasource") or {}
            if ds.get("uid") not in ds_uids or ds_uids[ds.get("uid")] != ds.get("type"):
                fail(f"{where}: datasource {ds} is not a provisioned one ({ds_uids})")
            if ds.get("type") == CH_TYPE:
                if t.get("editorType") != "sql" or not t.get("rawSql"):
                    fail(f"{where}: ClickHouse targets are SQL (editorType sql, rawSql)")
                if t.get("queryType") not in ("table", "timeSeries"):
                    fail(f"{where}: queryType must be table or timeSeries")
                if p.get("type") == "timeseries" and t.get("queryType") != "timeSeries":
                    fail(f"{where}: a timeseries panel needs queryType timeSeries")
            elif ds.get("type") == PROM_TYPE and not t.get("expr"):
                fail(f"{where}: Prometheus target without expr")
            text = t.get("rawSql") or t.get("expr") or ""
            for name in re.findall(r"\$\{?(\w+)", text):
                if not name.startswith("__") and name not in var_names:
                    fail(f"{where}: uses ${name}, which is not a dashboard variable")


def check_provisioning(dashboards):
    import yaml  # not needed by the query modes, which run in the chDB venv

    ds = yaml.safe_load(DATASOURCES.read_text())
    uids = {d["uid"]: d["type"] for d in ds.get("datasources", [])}
    if set(uids.values()) != {CH_TYPE, PROM_TYPE}:
        fail(f"{DATASOURCES.relative_to(ROOT)}: expected one ClickHouse and one Prometheus datasource")
    prov = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/rapport.yml").read_text())
    if not prov.get("providers"):
        fail("deploy/grafana/provisioning/dashboards/rapport.yml: no dashboard provider")
    for path, dash in dashboards:
        check_dashboard(path, dash, uids)
    kinds = {
        (t.get("datasource") or p.get("datasource") or {}).get("type")
        for _, d in dashboards
        for p in panels_of(d)
        for t in p.get("targets", [])
    }
    if kinds != {CH_TYPE, PROM_TYPE}:
        fail(f"dashboards should read both ClickHouse and Prometheus, found {kinds}")


def anchors(markdown):
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(a)
    return out


def check_alerts():
    import yaml

    rules = yaml.safe_load(ALERTS.read_text())
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    heads = anchors(RUNBOOK.read_text())
    fired = {
        a["alertname"]
        for t in tests.get("tests", [])
        for a in t.get("alert_rule_test", [])
        if a.get("exp_alerts")
    }
    names = []
    for g in rules["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            name = r["alert"]
            names.append(name)
            if "for" not in r:
                fail(f"alert {name}: no `for:`")
            if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                fail(f"alert {name}: severity label must be critical, warning or info")
            ann = r.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    fail(f"alert {name}: no {key} annotation")
            url = ann.get("runbook_url", "")
            anchor = url.rsplit("#", 1)[-1] if "#" in url else ""
            if not url.split("#")[0].endswith("docs/runbook.md") or anchor != name.lower():
                fail(f"alert {name}: runbook_url must point to docs/runbook.md#{name.lower()}")
            if anchor not in heads:
                fail(f"alert {name}: docs/runbook.md has no section `{name}`")
            if name not in fired:
                fail(f"alert {name}: no promtool test shows it firing (alerts.test.yml)")
    if len(names) != len(set(names)):
        fail("alert names must be unique")
    return names


METRIC = re.compile(r"(?<![\w:])(rapport_[a-z0-9_]+)(?![\w:])")


def check_metric_names(dashboards):
    code = "\n".join(p.read_text() for p in (ROOT / "crates").rglob("*.rs"))
    # Names registered in the code; a unit test's throwaway metric is not a real one.
    defined = {n for n in re.findall(r'"(rapport_[a-z0-9_]+)"', code) if "_test_" not in n}
    texts = [("alerts.yml", ALERTS.read_text())]
    texts += [(w, q) for w, q in queries(dashboards, PROM_TYPE)]
    used = 0
    for where, text in texts:
        for name in METRIC.findall(text or ""):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            used += 1
            if name not in defined and base not in defined:
                fail(f"{where}: metric {name} is not exported by any rapport service")
    return len(defined), used


def check_compose():
    import yaml

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    one_shot = {n for n, s in services.items() if s.get("restart") == "no" and not s.get("profiles")}
    adopted = set()
    for name, svc in services.items():
        image = svc.get("image", "")
        if not image.startswith("${RAPPORT_IMAGE"):
            tag = image.rsplit(":", 1)[-1] if ":" in image else ""
            if not re.search(r"\d", tag) or tag == "latest":
                fail(f"docker-compose.yml: service {name}: image `{image}` is not pinned to a version")
        deps = svc.get("depends_on") or {}
        for dep, cond in (deps.items() if isinstance(deps, dict) else []):
            if dep not in services:
                fail(f"docker-compose.yml: service {name} depends on unknown service {dep}")
            if cond.get("condition") == "service_completed_successfully" and name not in one_shot:
                adopted.add(dep)
        long_running = name not in one_shot and not svc.get("profiles")
        hc = svc.get("healthcheck") or {}
        if long_running and (not hc or hc.get("disable")):
            fail(f"docker-compose.yml: long-running service {name} has no health check")
    for name in sorted(one_shot - adopted):
        fail(
            f"docker-compose.yml: one-shot service {name} is not waited for by a long-running "
            "service (condition service_completed_successfully); `up --wait` would fail on its exit"
        )
    return len(services)


# ---------------------------------------------------------------- queries


def expand_sql(sql, case):
    def date(ts):
        import datetime

        return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")

    out = re.sub(
        r"\$__timeFilter\(\s*([^)]+?)\s*\)",
        lambda m: f"{m.group(1)} >= toDateTime({FROM}) AND {m.group(1)} <= toDateTime({TO})",
        sql,
    )
    out = re.sub(
        r"\$__dateFilter\(\s*([^)]+?)\s*\)",
        lambda m: f"{m.group(1)} >= toDate('{date(FROM)}') AND {m.group(1)} <= toDate('{date(TO)}')",
        out,
    )
    out = out.replace("$__fromTime", f"toDateTime({FROM})").replace("$__toTime", f"toDateTime({TO})")
    out = out.replace("$__interval_s", "3600")
    for k, v in case.items():
        out = out.replace("${" + k + "}", v)
        out = re.sub(r"\$" + k + r"\b", v, out)
    if "$" in out:
        raise ValueError(f"unexpanded macro or variable: {out[out.index('$'):][:40]}")
    return out


def statements(sql):
    """Split a migration like rapport-clickhouse does: drop comment lines, split on `;` + newline."""
    body = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip().rstrip(";").strip() for s in body.split(";\n") if s.strip()]


def ch_queries(dashboards):
    out = []
    for where, sql in queries(dashboards, CH_TYPE):
        if not sql:
            fail(f"{where}: empty query")
            continue
        for case in CASES:
            try:
                out.append((where, case, expand_sql(sql, case)))
            except ValueError as e:
                fail(f"{where}: {e}")
    return out


def check_figures(where, result):
    """Compare a scorecard panel's first row with the worked example; True if one was checked."""
    title = re.search(r"'(.*)'", where)
    expected = EXPECTED.get(title.group(1)) if title else None
    if expected is None:
        return False
    rows = result.get("data", [])
    if not rows:
        raise RuntimeError("no row for the worked example")
    for col, want in expected.items():
        got = rows[0].get(col)
        if isinstance(want, str):
            ok = got == want
        else:
            ok = got is not None and abs(float(got) - want) < 1e-9
        if not ok:
            raise RuntimeError(f"worked example: {col} = {got}, METRICS.md says {want}")
    return True


def run_server(url, dashboards):
    db = f"rapport_deploy_check_{os.getpid()}"  # CI and developers may share one server

    def q(sql, database=None):
        params = {"database": database} if database else {}
        full = url.rstrip("/") + "/?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(full, data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode().strip()) from None

    version = q("SELECT version()").strip()
    figures = 0
    q(f"DROP DATABASE IF EXISTS {db}")
    q(f"CREATE DATABASE {db}")
    n = 0
    try:
        for m in sorted((ROOT / "schemas/clickhouse").glob("*.sql")):
            for stmt in statements(m.read_text()):
                q(stmt, db)
        for stmt in FIXTURE:
            q(stmt, db)
        for where, case, sql in ch_queries(dashboards):
            sql = re.sub(r"(?<![\w.])rapport\.(?=\w)", f"{db}.", sql)
            try:
                result = json.loads(q(sql + "\nFORMAT JSON", db))
                check_columns(sql, result["meta"])
                figures += check_figures(where, result)
                n += 1
            except Exception as e:  # report which query, then carry on to list them all
                fail(f"ClickHouse {version}: {where} {case}: {e}")
    finally:
        q(f"DROP DATABASE IF EXISTS {db}")
    return version, n, figures


def run_chdb(dashboards):
    from chdb import session

    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        s = session.Session(tmp)
        version = str(s.query("SELECT version()", "CSV")).strip().strip('"')
        s.query("CREATE DATABASE IF NOT EXISTS rapport")
        s.query("USE rapport")
        for m in sorted((ROOT / "schemas/clickhouse").glob("*.sql")):
            for stmt in statements(m.read_text()):
                s.query(stmt)
        for stmt in FIXTURE:
            s.query(stmt)
        figures = 0
        for where, case, sql in ch_queries(dashboards):
            try:
                result = json.loads(str(s.query(sql, "JSON")))
                check_columns(sql, result["meta"])
                figures += check_figures(where, result)
                n += 1
            except Exception as e:
                fail(f"chDB {version}: {where} {case}: {e}")
        s.close()
    return version, n, figures


def check_columns(sql, meta):
    if not meta:
        raise RuntimeError("no columns")
    if "GROUP BY time" in sql and not (meta[0]["name"] == "time" and "DateTime" in meta[0]["type"]):
        raise RuntimeError(f"a time series query starts with a DateTime column named time, not {meta[0]}")


def check_promql(dashboards, promtool):
    import yaml

    rules = []
    for i, (where, expr) in enumerate(queries(dashboards, PROM_TYPE)):
        e = expr or ""
        for k, v in PROM_VARS.items():
            e = e.replace("$" + k, v).replace("${" + k + "}", v)
        e = re.sub(r"\$\{?(\w+)\}?", ".*", e)  # dashboard variables are used in =~ matchers
        rules.append({"record": f"dashboard:check_{i}", "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-expressions", "rules": rules}]}, f)
    r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    if r.returncode != 0:
        fail("dashboard PromQL does not parse:\n" + r.stdout + r.stderr)
    return len(rules)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["structure", "promql", "clickhouse", "chdb"])
    ap.add_argument("--url", default="http://127.0.0.1:8123")
    ap.add_argument("--promtool", default="promtool")
    args = ap.parse_args()
    dashboards = load_dashboards()
    if args.mode == "structure":
        check_provisioning(dashboards)
        alerts = check_alerts()
        defined, used = check_metric_names(dashboards)
        services = check_compose()
        summary = (
            f"compose: {services} services pinned, health-checked and waitable; "
            f"{len(dashboards)} dashboards ({sum(1 for _, d in dashboards for _ in panels_of(d))} panels), "
            f"{len(alerts)} alerts with runbook sections and firing tests, "
            f"{used} metric references checked against {defined} exported metrics"
        )
    elif args.mode == "promql":
        summary = f"{check_promql(dashboards, args.promtool)} dashboard PromQL expressions parse"
    elif args.mode == "clickhouse":
        version, n, figures = run_server(args.url, dashboards)
        summary = (
            f"ClickHouse {version}: {n} dashboard queries ran on a freshly migrated database; "
            f"{figures} panel results equal the METRICS.md worked example"
        )
    else:
        version, n, figures = run_chdb(dashboards)
        summary = (
            f"chDB (ClickHouse {version}): {n} dashboard queries ran on a freshly migrated database; "
            f"{figures} panel results equal the METRICS.md worked example"
        )
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print(f"{len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
