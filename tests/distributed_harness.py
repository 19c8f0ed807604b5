"""Run a piece of code on 2 (or more) gloo processes on the CPU and collect results.

The distributed losses are tested by running them in real processes, each
holding its slice of a batch, and comparing with the single-process loss of
the whole batch. :func:`run_gloo_workers` writes a worker script around the
test's ``body``, starts one process per rank (``file://`` rendezvous, one
thread each, loopback interface), waits with a deadline, kills stragglers and
fails with the rank's output when one fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import torch

PREAMBLE = """\
import datetime
import sys

import torch
import torch.distributed as dist

rank, world, init_file, data, out = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                        world_size=world, timeout=datetime.timedelta(seconds=60))
batch = torch.load(data)
result = {}
"""

EPILOGUE = """
torch.save(result, out)
dist.barrier()
dist.destroy_process_group()
"""


def run_gloo_workers(
    tmp_path: Path, body: str, batch: dict[str, Any], world: int = 2, timeout: float = 90
) -> list[dict[str, Any]]:
    """Run ``body`` on ``world`` gloo processes; return each rank's ``result``.

    Args:
        tmp_path: A fresh folder for the script, the batch and the results.
        body: Python run by every rank after ``dist.init_process_group``, with
            ``rank``, ``world``, ``batch`` (the dict below, loaded) and an empty
            dict ``result`` to fill (saved and returned).
        batch: Tensors and numbers every rank loads.
        world: Number of processes.
        timeout: Seconds all ranks together may take (keep it inside the test's
            ``pytest.mark.timeout``).

    Returns:
        The ``result`` dicts in rank order.
    """
    torch.save(batch, tmp_path / "batch.pt")
    script = tmp_path / "worker.py"
    script.write_text(PREAMBLE + textwrap.dedent(body) + EPILOGUE)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    args = [str(tmp_path / "init"), str(tmp_path / "batch.pt")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(rank),
                str(world),
                *args,
                str(tmp_path / f"out{rank}.pt"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(world)
    ]
    logs = []
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            logs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rank, p in enumerate(procs):
        assert p.returncode == 0, f"rank {rank} failed:\n{logs[rank] if rank < len(logs) else ''}"
    return [torch.load(tmp_path / f"out{rank}.pt") for rank in range(world)]
