"""Benchmark of the vectorised ST-CRL loss against a per-building Python loop.

Times forward + backward of :func:`stcrl_core.methods.stcrl.stcrl_loss` (eq. 1 of
the ST-CRL paper: log-sum-exp over one ``(N, 4N - 3)`` logit matrix built from
four matrix products) and of the same formula written the way the public
reference implementation writes it: a Python loop over the buildings that, for
building ``i``, builds the numerator and the denominator from the cosine
similarities of row ``i`` and appends ``-log(numerator / denominator)``; the
batch loss is the mean. The loop is the baseline.

Both run on CPU in float32 on the same seeded embeddings (batch 256, dim 128,
tau 0.1 by default: the reference settings); before timing, the script checks
that the losses agree to 1e-5 relative and the gradients to 1e-5 of their
largest magnitude. Times are medians over ``--repeats`` rounds (after one
warm-up) that run the two in turn, with torch's default number of threads; the
1-minute load average before and after is saved, as other processes on a small
machine skew times. Results are printed as a Markdown table and written to
``benchmarks/out/loss.json``; record them in ``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_loss.py [--batch 256] [--dim 128] [--tau 0.1] [--repeats 15]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from stcrl_core.methods.stcrl import stcrl_loss

LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def loop_loss(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. (1) with a Python loop over the buildings (the reference code's shape)."""
    n = z_pre.shape[0]
    losses = []
    for i in range(n):
        others = torch.arange(n) != i
        pos = torch.exp(F.cosine_similarity(z_pre[i : i + 1], z_post[i : i + 1]) / tau)
        neg = (
            torch.exp(F.cosine_similarity(z_pre[i : i + 1], z_pre[others]) / tau).sum()
            + torch.exp(F.cosine_similarity(z_pre[i : i + 1], z_post[others]) / tau).sum()
            + torch.exp(F.cosine_similarity(z_post[i : i + 1], z_pre[others]) / tau).sum()
            + torch.exp(F.cosine_similarity(z_post[i : i + 1], z_post[others]) / tau).sum()
        )
        losses.append(-torch.log(pos / (pos + neg)))
    return torch.cat(losses).mean()


def vectorised_loss(z_pre: torch.Tensor, z_post: torch.Tensor, tau: float) -> torch.Tensor:
    """The library's loss (variant ``"stcrl"``)."""
    return stcrl_loss(z_pre, z_post, temperature=tau)


def embeddings(batch: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded unnormalised pre/post embeddings, post correlated with pre."""
    g = torch.Generator().manual_seed(seed)
    pre = torch.randn(batch, dim, generator=g)
    post = pre + torch.randn(batch, dim, generator=g)
    return pre, post


def forward_backward(
    fn: LossFn, pre: torch.Tensor, post: torch.Tensor, tau: float
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One forward + backward; returns the loss and the gradients w.r.t. both inputs."""
    a = pre.clone().requires_grad_(True)
    b = post.clone().requires_grad_(True)
    loss = fn(a, b, tau)
    loss.backward()
    assert a.grad is not None and b.grad is not None
    return loss.item(), a.grad, b.grad


def check_agreement(pre: torch.Tensor, post: torch.Tensor, tau: float) -> dict[str, float]:
    """Raise if the two implementations disagree; return the observed differences."""
    loss_v, ga_v, gb_v = forward_backward(vectorised_loss, pre, post, tau)
    loss_l, ga_l, gb_l = forward_backward(loop_loss, pre, post, tau)
    loss_rel = abs(loss_v - loss_l) / abs(loss_l)
    grad_scale = max(ga_l.abs().max().item(), gb_l.abs().max().item())
    grad_diff = max((ga_v - ga_l).abs().max().item(), (gb_v - gb_l).abs().max().item())
    if loss_rel > 1e-5:
        raise SystemExit(f"losses differ: {loss_v} vs {loss_l} (relative {loss_rel:.2e})")
    if grad_diff > 1e-5 * grad_scale:
        raise SystemExit(f"gradients differ by {grad_diff:.2e} (largest |grad| {grad_scale:.2e})")
    return {
        "loss": loss_l,
        "loss_relative_difference": loss_rel,
        "grad_max_abs_difference": grad_diff,
        "grad_max_abs": grad_scale,
    }


def time_both(
    fns: dict[str, LossFn], pre: torch.Tensor, post: torch.Tensor, tau: float, repeats: int
) -> dict[str, float]:
    """Median wall-clock seconds of forward + backward of each function.

    Three rounds; in each, every function runs a warmed-up block of calls in
    turn, so load from other processes hits all of them alike while each call is
    timed the way training calls it (repeatedly, not right after the other one).
    """
    for fn in fns.values():
        forward_backward(fn, pre, post, tau)
    times: dict[str, list[float]] = {name: [] for name in fns}
    rounds = 3
    for _ in range(rounds):  # blocks alternate, so load from other processes hits both alike
        for name, fn in fns.items():
            gc.collect()
            forward_backward(fn, pre, post, tau)  # warm this block up after the other one
            for _ in range(max(1, repeats // rounds)):
                start = time.perf_counter()
                forward_backward(fn, pre, post, tau)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    """Check agreement, time both implementations, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="buildings per batch (256)")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (128)")
    parser.add_argument("--tau", type=float, default=0.1, help="temperature (0.1)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs each (median taken)")
    parser.add_argument("--out", default="benchmarks/out", help="where loss.json goes")
    args = parser.parse_args()

    pre, post = embeddings(args.batch, args.dim)
    agreement = check_agreement(pre, post, args.tau)
    load_before = os.getloadavg()[0]
    fns: dict[str, LossFn] = {"loop": loop_loss, "vectorised": vectorised_loss}
    seconds = time_both(fns, pre, post, args.tau, args.repeats)
    loop_s, vec_s = seconds["loop"], seconds["vectorised"]
    results = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "date": time.strftime("%Y-%m-%d"),
        "batch": args.batch,
        "dim": args.dim,
        "tau": args.tau,
        "repeats": args.repeats,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "agreement": agreement,
        "loop_seconds": loop_s,
        "vectorised_seconds": vec_s,
        "speedup_vs_loop": loop_s / vec_s,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loss.json").write_text(json.dumps(results, indent=2))

    print(f"\nmachine: {results['machine']}; date: {results['date']}")
    print(
        f"batch {args.batch}, dim {args.dim}, tau {args.tau}, forward + backward, "
        f"median of {args.repeats}; loss {agreement['loss']:.6f}, relative difference "
        f"{agreement['loss_relative_difference']:.1e}, max gradient difference "
        f"{agreement['grad_max_abs_difference']:.1e} (max |grad| {agreement['grad_max_abs']:.1e})\n"
    )
    print("| implementation | seconds | ratio vs baseline |")
    print("|---|---|---|")
    print(f"| per-building Python loop (baseline) | {loop_s:.4f} | 1.00 |")
    print(f"| `stcrl_loss` (vectorised) | {vec_s:.4f} | {loop_s / vec_s:.0f}x faster |")


if __name__ == "__main__":
    main()
