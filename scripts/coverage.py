#!/usr/bin/python3
"""Line coverage of the library per stage, from a build made with
-Db_coverage=true after its tests ran: printed as a table, and a failure when
any stage is below the floor.

    scripts/coverage.py BUILD_DIR [--min PERCENT]
"""
import argparse
import collections
import json
import os
import subprocess
import sys

STAGES = ["common", "model", "graph", "analyze", "plan", "fill", "save", "readout", "api"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--min", type=float, default=80.0)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(["gcovr", "-r", root, os.path.abspath(args.build), "--filter",
                          os.path.join(root, "src", "lib", ""), "--json-summary", "-"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("coverage: gcovr failed: %s" % out.stderr.strip()[-400:])
    files = json.loads(out.stdout)["files"]
    if not files:
        sys.exit("coverage: no data in %s (built with -Db_coverage=true, tests run?)" % args.build)
    per = collections.defaultdict(lambda: [0, 0])
    low = collections.defaultdict(list)
    for f in files:
        parts = f["filename"].replace(os.sep, "/").split("/")
        stage = parts[parts.index("lib") + 1] if "lib" in parts else "?"
        per[stage][0] += f["line_covered"]
        per[stage][1] += f["line_total"]
        low[stage].append((f["line_percent"], parts[-1]))
    failed = []
    print("%-8s %7s %7s %7s  %s" % ("stage", "lines", "covered", "percent", "least covered file"))
    for stage in STAGES + sorted(set(per) - set(STAGES)):
        if stage not in per:
            failed.append(stage)
            print("%-8s  no data" % stage)
            continue
        covered, total = per[stage]
        pct = 100.0 * covered / total if total else 100.0
        worst = min(low[stage])
        print("%-8s %7d %7d %6.1f%%  %s %.0f%%" % (stage, total, covered, pct, worst[1], worst[0]))
        if pct < args.min:
            failed.append(stage)
    if failed:
        sys.exit("coverage: below %.0f%% (or no data): %s" % (args.min, ", ".join(failed)))


if __name__ == "__main__":
    main()
