#!/usr/bin/env python3
"""Fails when a test suite ran fewer tests than its checked-in minimum (tests/minimum-tests.json).

cargo and `node --test` report success when a suite quietly runs fewer tests — a feature flag
dropped, a file no longer matched, a test renamed into a helper. `make test` records what ran and
calls this script:

    python3 scripts/test_counts.py rust  LOG    # the output of `cargo test`
    python3 scripts/test_counts.py node  NAME COUNTS.json   # scripts/count_reporter.mjs output

Every suite that ran must have a minimum (a new suite is added to the file with its count), and
every suite with a minimum must have run. Raising a minimum is part of adding tests; lowering one
is a deliberate, reviewed change.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINIMUMS = ROOT / "tests" / "minimum-tests.json"


def rust_counts(log: str) -> dict:
    """Suite → tests passed, from `cargo test` output (its `Running`/`Doc-tests` headers)."""
    counts, suite = {}, None
    for line in log.splitlines():
        m = re.match(r"\s+Running (unittests )?(\S+) \((?:.*/)?deps/([A-Za-z0-9_]+)-[0-9a-f]+(?:\.exe)?\)", line)
        if m:
            unit, path, binary = m.groups()
            suite = f"{binary}: {path}" if unit else path
            continue
        m = re.match(r"\s+Doc-tests (\S+)", line)
        if m:
            suite = f"doc-tests {m.group(1)}"
            continue
        m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed", line)
        if m and suite:
            counts[suite] = counts.get(suite, 0) + int(m.group(1))
            suite = None
    return counts


def check(kind: str, ran: dict) -> int:
    minimums = json.loads(MINIMUMS.read_text()).get(kind, {})
    problems = []
    for suite, n in sorted(ran.items()):
        if suite not in minimums:
            problems.append(f"{suite}: ran {n} tests but has no minimum in {MINIMUMS.name} (add it)")
        elif n < minimums[suite]:
            problems.append(f"{suite}: {n} tests passed, at least {minimums[suite]} expected")
    for suite in sorted(set(minimums) - set(ran)):
        if minimums[suite] > 0:
            problems.append(f"{suite}: did not run ({minimums[suite]} tests expected)")
    total = sum(ran.values())
    if problems:
        print(f"test counts ({kind}): FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"test counts ({kind}): {total} tests in {len(ran)} suites, none below its minimum")
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "rust":
        return check("rust", rust_counts(Path(sys.argv[2]).read_text()))
    if len(sys.argv) == 4 and sys.argv[1] == "node":
        raw = json.loads(Path(sys.argv[3]).read_text())
        failed = [f for f, c in raw.items() if c["failed"]]
        if failed:
            print(f"test counts: failures in {', '.join(failed)}", file=sys.stderr)
            return 1
        return check(sys.argv[2], {f: c["passed"] for f, c in raw.items()})
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
