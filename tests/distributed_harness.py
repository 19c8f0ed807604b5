"""Run a worker on several gloo processes on CPU and collect what each rank saved.

The distributed-loss tests each write only their worker's own logic (a script body);
starting the processes, the process group and the clean-up are here, once.
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

PROLOGUE = textwrap.dedent(
    """
    import datetime
    import sys

    import torch
    import torch.distributed as dist

    rank, world, init_file, data, out = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    batch = torch.load(data)
    """
)

# The result is saved before the final barrier (a rank that fails to save exits
# non-zero, so a partial file is never read); after the process group is destroyed
# the rank leaves with os._exit, skipping the interpreter's finalisation, where
# gloo's and autograd's C++ threads could still be torn down with "terminate called
# without an active exception" (an intermittent abort of a rank whose work had
# finished; pytorch/pytorch#179291 describes the teardown).
EPILOGUE = textwrap.dedent(
    """
    import gc
    import os

    torch.save(result, out)
    del result
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
    """
)


def run_gloo_workers(
    tmp_path: Path,
    worker_body: str,
    batch: dict[str, Any],
    world: int = 2,
    timeout: float = 90.0,
) -> list[dict[str, Any]]:
    """Run ``worker_body`` on ``world`` gloo processes and return each rank's ``result``.

    The body runs after a prologue that joins the process group (file:// rendezvous in
    ``tmp_path``) and defines ``rank``, ``world``, ``batch`` (the dict given here, saved
    and loaded with ``torch.save`` / ``torch.load``), ``torch`` and ``dist``; it must
    leave a picklable dict in ``result``, which each rank saves before a final barrier.

    Args:
        tmp_path: An empty folder for the script, the batch, the rendezvous file and the
            results.
        worker_body: Python source (dedented) of the worker's own logic.
        batch: The data every rank loads (tensors and plain numbers).
        world: The number of processes.
        timeout: Seconds all ranks together may take; keep it inside the test's
            ``pytest.mark.timeout``. Ranks still running then are killed.

    Returns:
        The ``result`` of each rank, in rank order.

    Raises:
        AssertionError: If a rank exits with a non-zero code (every failed rank's output is
            in the message).
    """
    torch.save(batch, tmp_path / "batch.pt")
    worker = tmp_path / "worker.py"
    worker.write_text(PROLOGUE + textwrap.dedent(worker_body) + EPILOGUE)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    args = [str(tmp_path / "init"), str(tmp_path / "batch.pt")]
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(rank), str(world), *args, str(_out(tmp_path, rank))],
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
    failed = [  # every failed rank: the first is often a peer of the one that crashed
        f"rank {rank} failed (exit {p.returncode}):\n{logs[rank] if rank < len(logs) else ''}"
        for rank, p in enumerate(procs)
        if p.returncode != 0
    ]
    assert not failed, "\n".join(failed)
    return [torch.load(_out(tmp_path, rank)) for rank in range(world)]


def _out(tmp_path: Path, rank: int) -> Path:
    return tmp_path / f"out{rank}.pt"
