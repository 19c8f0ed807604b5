"""Benchmark of the explorer's UMAP (``stcrl_core.explore.projection``) against plain umap-learn.

For N = 5,000 / 20,000 / 100,000 points of 512-d features (see below), times:

* **cold**: a fresh Python process that imports everything, compiles numba's
  code and projects (what the first projection job of a worker costs);
* **warm**: the same projection in a process that has already compiled
  (:func:`stcrl_core.explore.projection.warm_up`).

The features are 12 clusters, each a curved 6-dimensional manifold in the
512-d space plus a little noise, so there is neighbourhood structure to keep.
The baseline is umap-learn as commonly called, ``umap.UMAP(random_state=seed,
n_jobs=1).fit_transform(x)`` on the standardised features (approximate
neighbours from pynndescent, spectral initialisation), which is what this
project did before. Both are seeded (so single-threaded). Quality is compared
too: the share of each point's 10 nearest neighbours in the 512-d space that
are among its 10 nearest in 2-D (on a 2,000-point sample). Goal: a new
20,000-point UMAP in under 15 s on a 2-core CPU after warm-up.

Usage: ``python benchmarks/bench_projection.py [--sizes 5000,20000,100000] [--baseline-max 20000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np


def features(n: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    """Seeded embeddings with structure to keep: 12 clusters, each a curved 6-d manifold
    (a random non-linear map of a 6-d Gaussian into 512-d) plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 12, n)
    centres = rng.normal(size=(12, dim)) * 2.0
    lift = rng.normal(size=(12, 6, dim)) / np.sqrt(6)
    latent = rng.normal(size=(n, 6))
    curved = np.tanh(np.einsum("nk,nkd->nd", latent, lift[labels]))
    x = centres[labels] + 2.0 * curved + 0.1 * rng.normal(size=(n, dim))
    return x.astype(np.float32)


def baseline(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Plain umap-learn on standardised features."""
    import umap

    z = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return umap.UMAP(random_state=seed, n_jobs=1).fit_transform(z)


def ours(x: np.ndarray, seed: int = 0) -> np.ndarray:
    from stcrl_core.explore.projection import project

    return project(x, "umap", seed)


def neighbour_overlap(x: np.ndarray, y: np.ndarray, k: int = 10, sample: int = 2000) -> float:
    """Mean share of the k nearest neighbours in ``x`` kept among the k nearest in ``y``."""
    from stcrl_core.explore.projection import exact_knn

    idx = np.random.default_rng(0).choice(len(x), size=min(sample, len(x)), replace=False)
    a, _ = exact_knn(x[idx], k + 1)
    b, _ = exact_knn(y[idx].astype(np.float32), k + 1)
    return float(np.mean([len(set(p[1:]) & set(q[1:])) / k for p, q in zip(a, b, strict=True)]))


def one(n: int, which: str, warm: bool) -> dict:
    """Time one projection in this process (cold unless ``warm``)."""
    started = time.perf_counter()
    x = features(n)
    fn = ours if which == "ours" else baseline
    if warm:
        fn(features(5000, seed=1))  # compiles every numba path (pynndescent too, for the baseline)
    t0 = time.perf_counter()
    y = fn(x)
    seconds = time.perf_counter() - t0
    return {
        "n": n,
        "which": which,
        "warm": warm,
        "seconds": seconds,
        "process_seconds": time.perf_counter() - started,
        "overlap": neighbour_overlap(x, y),
    }


def in_fresh_process(n: int, which: str, warm: bool) -> dict:
    """Run :func:`one` in a new Python process (imports and numba compilation included)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--one", f"{n},{which},{int(warm)}"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000,100000", help="point counts")
    parser.add_argument(
        "--baseline-max", type=int, default=20000, help="largest N to run the baseline on"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        n, which, warm = args.one.split(",")
        print(json.dumps(one(int(n), which, bool(int(warm)))))
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| N | method | cold (fresh process) s | warm s | kNN kept | warm ratio vs baseline |")
    print("|---|---|---|---|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        rows = {}
        for which in ("baseline", "ours"):
            if which == "baseline" and n > args.baseline_max:
                continue
            cold = in_fresh_process(n, which, warm=False)
            warm = in_fresh_process(n, which, warm=True)
            rows[which] = (cold, warm)
        for which, (cold, warm) in rows.items():
            ratio = ""
            if which == "ours" and "baseline" in rows:
                ratio = f"{rows['baseline'][1]['seconds'] / warm['seconds']:.1f}x faster"
            print(
                f"| {n:,} | {which} | {cold['wall']:.1f} | {warm['seconds']:.1f} | "
                f"{warm['overlap']:.2f} | {ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
