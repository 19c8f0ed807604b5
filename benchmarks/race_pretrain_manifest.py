"""Start several `stcrl pretrain --method random` at once on one workspace; count the runs kept.

Each run registers itself in ``workspace.json`` when it finishes; without a lock
around that read-modify-write, runs finishing together drop each other's entry
(measured on 2026-12-01 before the lock: 8 and 11 of 12 kept). Usage::

    python benchmarks/race_pretrain_manifest.py WORKSPACE [--processes 6] [--rounds 2]

WORKSPACE must hold building objects (e.g. a copy of the demo workspace); the
runs are named ``race-<round>-<i>`` and left in place.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace")
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    names = []
    for r in range(args.rounds):
        procs = []
        for i in range(args.processes):
            name = f"race-{r}-{i}"
            names.append(name)
            cmd = [sys.executable, "-m", "stcrl_core.cli", "pretrain", "--device", "cpu",
                   "--workspace", args.workspace, "--method", "random", "--run", name]  # fmt: skip
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
        codes = [p.wait() for p in procs]
        print(f"round {r + 1}: exit codes {codes}")
    manifest = json.loads((Path(args.workspace) / "workspace.json").read_text())
    kept = {run["name"] for run in manifest["runs"]} & set(names)
    on_disk = sum((Path(args.workspace) / "runs" / n / "checkpoint.pt").exists() for n in names)
    print(f"{len(kept)} of {len(names)} runs in workspace.json ({on_disk} checkpoints on disk)")
    return 0 if len(kept) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
