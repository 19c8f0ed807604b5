"""How long `stcrl demo` takes from nothing (the issue's budget: 6 minutes on 2 cores).

Builds the demo with its default settings into a fresh folder under ``--out``
(removed afterwards unless ``--keep``), through ``stcrl_core.cli.main`` as
``make app`` does, and reports every stage's seconds from the build's
``demo.json`` with the machine, its core count and its load average before and
after (a loaded machine is much slower; only a quiet run says whether the
budget holds). ``--write-docs`` rewrites the ``demo-build`` section of
``docs/benchmarks.md``.

Usage::

    python benchmarks/bench_demo.py [--out benchmarks/out/demo_build] [--keep] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 360.0  # the 6 minutes on the 2-core CPU


def main() -> None:
    """Build the demo once and print (and optionally record) its stage times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "demo_build")
    parser.add_argument("--keep", action="store_true", help="keep the built workspace")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()
    import torch

    from stcrl_core.cli import main as stcrl

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    load_before = os.getloadavg()
    start = time.perf_counter()
    status = stcrl(["demo", "--workspace", str(args.out / "ws"), "--data", str(args.out / "data")])
    wall = time.perf_counter() - start
    load_after = os.getloadavg()
    if status != 0:
        sys.exit(f"bench_demo: stcrl demo failed with status {status}")
    summary = json.loads((args.out / "ws" / "demo.json").read_text())
    buildings = summary["results"].get("buildings")
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}; load average "
        f"(1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    rows = ["| stage | seconds |", "|---|---|"]
    rows += [f"| {stage} | {sec:.0f} |" for stage, sec in summary["seconds"].items()]
    total = summary["total_seconds"]
    verdict = "within" if total <= BUDGET_S else "**over**"
    rows.append(f"| total (stages) | {total:.0f} ({total / BUDGET_S:.2f}x the 360 s budget: "
                f"{verdict}) |")  # fmt: skip
    rows.append(f"| wall, including imports | {wall:.0f} |")
    text = (
        f"Machine: {machine}. `stcrl demo` with its default settings from nothing "
        f"({buildings} buildings).\n\n" + "\n".join(rows)
    )
    print(text)
    if args.write_docs:
        sys.path.insert(0, str(REPO / "docs"))
        from doc_sections import replace_section

        command = " ".join(["benchmarks/bench_demo.py", *sys.argv[1:]])
        replace_section(REPO / "docs" / "benchmarks.md", "demo-build", command, text)
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
