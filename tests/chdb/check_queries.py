"""Run every ClickHouse migration and every documented query on current ClickHouse (chDB).

CI runs the same migrations and queries on Debian's ClickHouse 18.16 (the local stack); this
script proves they also work on a current release, embedded through chDB, without a server.
Usage: python tests/chdb/check_queries.py  (needs `pip install chdb-core`)
"""

import pathlib
import re
import sys
import tempfile

from chdb import session

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Placeholder values for the report queries, in the order their `?` appear (see each file's
# header comment): brand "acme", platform "x", a March 2026 period and as-of instant.
A, FROM, TO, MAX_PENDING = 1772625600, 1772409600, 1772496000, 604800
PARAMS = {
    "report_cohort.sql": [A, "acme", "x", "x", FROM, TO],
    "report_backlog.sql": [A, MAX_PENDING, "acme", "x", "x"],
    "report_bands.sql": [A, "acme", "x", "x", FROM, TO],
    "report_daily.sql": ["acme", "x", "x", FROM, TO],
    "report_follow_counts.sql": ["acme", "x", "x", TO],
    "report_newest.sql": ["acme"],
}


def statements(sql):
    """Split a migration like rapport-clickhouse does: drop comment lines, split on `;` + newline."""
    body = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip().rstrip(";").strip() for s in body.split(";\n") if s.strip()]


def bind(sql, values):
    parts = sql.split("?")
    if len(parts) - 1 != len(values):
        raise SystemExit(f"placeholder count {len(parts) - 1} != {len(values)} values")
    out = parts[0]
    for value, rest in zip(values, parts[1:]):
        out += (f"'{value}'" if isinstance(value, str) else str(value)) + rest
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        s = session.Session(tmp)
        version = str(s.query("SELECT version()", "CSV")).strip().strip('"')
        s.query("CREATE DATABASE IF NOT EXISTS rapport")
        s.query("USE rapport")
        migrations = sorted((ROOT / "schemas/clickhouse").glob("*.sql"))
        n_statements = 0
        for m in migrations:
            for stmt in statements(m.read_text()):
                try:
                    s.query(stmt)
                except Exception as e:  # report which statement, then fail
                    raise SystemExit(f"{m.name}: {e}\n{stmt}")
                n_statements += 1
        queries = sorted((ROOT / "schemas/queries").glob("*.sql")) + sorted(
            (ROOT / "schemas/queries/examples").glob("*.sql")
        )
        for q in queries:
            sql = q.read_text()
            if q.name in PARAMS:
                sql = bind(sql, PARAMS[q.name])
            elif "?" in re.sub(r"--.*", "", sql):
                raise SystemExit(f"{q.name}: has placeholders but no test values in PARAMS")
            try:
                s.query(sql, "CSV")
            except Exception as e:
                raise SystemExit(f"{q.relative_to(ROOT)}: {e}")
        s.close()
    print(
        f"chdb (ClickHouse {version}): {len(migrations)} migrations ({n_statements} statements) "
        f"and {len(queries)} queries ran"
    )


if __name__ == "__main__":
    sys.exit(main())
