"""The MLP probe: one ReLU hidden layer, minibatch Adam, batched over trials.

See :mod:`stcrl_core.eval.probes` for the probes' shared conventions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from stcrl_core.eval.batched_probe import N_CLASSES, BatchedProbe


def minibatch_windows(n: int, batch_size: int, updates: int) -> list[tuple[int, int]]:
    """Row windows ``[start, stop)`` of the MLP probe's Adam updates.

    A trial's ``n`` rows are permuted once and written twice (``2n`` rows), so
    that every minibatch is a contiguous window. Epoch ``e`` splits the rows
    into ``k = ceil(n / batch_size)`` minibatches of ``n // k`` rows from offset
    ``floor(frac(e * 0.618...) * n)``: the golden-ratio offsets make each epoch's
    minibatches straddle the previous epochs' boundaries, so minibatches mix
    rows anew without a copy of the data per epoch; the ``n mod k`` rows past an
    epoch's last window wait for a later one. With ``n <= batch_size`` every
    update is full-batch: ``(0, n)``.

    Args:
        n: Training rows of a trial.
        batch_size: Largest minibatch.
        updates: Number of windows (Adam updates).

    Returns:
        ``updates`` windows into the doubled rows (all in ``[0, n)`` when full-batch).
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    k = math.ceil(n / batch_size)
    size = n // k
    windows: list[tuple[int, int]] = []
    epoch = 0
    while len(windows) < updates:
        offset = 0 if k == 1 else int((epoch * 0.6180339887498949) % 1.0 * n)
        windows += [(offset + j * size, offset + (j + 1) * size) for j in range(k)]
        epoch += 1
    return windows[:updates]


class MLPProbe(BatchedProbe):
    """One-hidden-layer ReLU MLP, batched over trials (minibatch Adam).

    Minimises scikit-learn's ``MLPClassifier`` objective on each minibatch,
    ``mean CE + alpha * ||W||^2 / (2 * batch)``, with Adam on minibatches of at
    most ``batch_size`` rows (see :func:`minibatch_windows`; full-batch when
    the budget is no larger), stopping after ``max_iter`` updates or
    ``max_epochs`` passes over the rows, whichever comes first. scikit-learn
    instead trains until the training loss stops improving (55-90 epochs on the
    benchmark's data, so up to 700 updates): the F1 it reaches is matched
    within 0.02 with far fewer updates (``docs/benchmarks.md``). The
    forward and backward passes are written out (no autograd). The two
    products with the features, ``Z W1`` and ``dH^T Z``, which are nearly all
    of the work, run in bfloat16 (float32 accumulation) when ``precision``
    allows it, and so does the first layer at prediction; the weights, Adam's
    state and everything else stay float32.

    Args:
        hidden: Hidden units.
        alpha: L2 penalty (scikit-learn's ``alpha``).
        lr: Adam learning rate.
        max_iter: Most Adam updates (unlike scikit-learn's, not epochs).
        max_epochs: Most passes over a trial's rows (caps the updates of small
            budgets, whose every update is a full pass).
        batch_size: Most rows per minibatch (scikit-learn's default, 200).
        precision: ``auto`` (bfloat16 products on CUDA, and on CPUs with native
            bfloat16 support), ``bfloat16`` or ``float32``.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        random_state: Seed of the weight initialisation and the row order; trial
            ``t`` of a batch uses ``random_state + t``, so a batched fit equals
            separate fits.
    """

    def __init__(
        self, hidden: int = 100, alpha: float = 1e-4, lr: float = 1e-3, max_iter: int = 75,
        max_epochs: int = 50, batch_size: int = 200, precision: str = "auto",
        device: str = "auto", random_state: int | None = None,
    ) -> None:  # fmt: skip
        self.hidden = hidden
        self.alpha = alpha
        self.lr = lr
        self.max_iter = max_iter
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.precision = precision
        self.device = device
        self.random_state = random_state

    def _product_dtype(self, device: torch.device) -> torch.dtype:
        if self.precision not in ("auto", "bfloat16", "float32"):
            raise ValueError(f"precision must be auto, bfloat16 or float32, got {self.precision!r}")
        if self.precision == "auto":
            native = device.type == "cuda" or torch.ops.mkldnn._is_mkldnn_bf16_supported()
            return torch.bfloat16 if native else torch.float32
        return torch.bfloat16 if self.precision == "bfloat16" else torch.float32

    def _rows(
        self, X: torch.Tensor, y: torch.Tensor, gens: list[torch.Generator], doubled: bool,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Standardised features ``(T, n, d)`` in the product dtype and one-hot labels
        ``(T, 4, n)``, each trial's rows in its own random order, written twice
        (``2n`` rows) when ``doubled``."""
        t, n, d = X.shape
        reps = 2 if doubled else 1
        Z = torch.empty(t, reps * n, d, dtype=dtype, device=X.device)
        onehot = torch.empty(t, N_CLASSES, reps * n, device=X.device)
        for i in range(t):  # one trial at a time: cache-sized temporaries
            order = torch.randperm(n, generator=gens[i]).to(X.device)
            Z[i, :n].copy_((X[i, order] - self.mean_[i]).div_(self.scale_[i]))
            onehot[i, :, :n] = F.one_hot(y[i, order], N_CLASSES).T
            if doubled:  # while the trial's rows are in cache
                Z[i, n:] = Z[i, :n]
                onehot[i, :, n:] = onehot[i, :, :n]
        return Z, onehot

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPProbe:
        """Fit on ``(n, d)``/``(n,)`` or ``(T, n, d)``/``(T, n)``."""
        if self.batch_size < 1 or self.max_iter < 0 or self.max_epochs < 0:
            raise ValueError(
                f"need batch_size >= 1, max_iter >= 0 and max_epochs >= 0, got "
                f"{self.batch_size}, {self.max_iter} and {self.max_epochs}"
            )
        X, y, device = self._prepare(X, y)
        t, n, d = X.shape
        dtype = self._product_dtype(device)
        self.product_dtype_ = str(dtype).removeprefix("torch.")

        def glorot(fan_in: int, fan_out: int) -> torch.Tensor:
            bound = math.sqrt(6 / (fan_in + fan_out))
            w = torch.stack([torch.rand(fan_in, fan_out, generator=g) for g in gens]) * 2 - 1
            return (w * bound).transpose(1, 2).contiguous().to(device)

        gens = [torch.Generator().manual_seed(s) for s in self.seeds_]
        # Weights held transposed, (T, out, in), and the batch's logits as (T, 4, m):
        # every product then reads its operands as they lie in memory (dW1 is
        # dH^T Z on the minibatch window) and the small ones avoid 4-wide inner
        # dimensions, several times faster on CPU than the (T, m, 4) layout.
        W1t, W2t = glorot(d, self.hidden), glorot(self.hidden, N_CLASSES)
        b1 = torch.zeros(t, 1, self.hidden, device=device)
        b2t = torch.zeros(t, N_CLASSES, 1, device=device)
        params = [W1t, b1, W2t, b2t]
        for p in params:
            p.grad = torch.zeros_like(p)
        updates = min(self.max_iter, self.max_epochs * math.ceil(n / self.batch_size))
        windows = minibatch_windows(n, self.batch_size, updates)
        m = windows[0][1] - windows[0][0] if windows else n  # every window has m rows
        # The penalty's gradient alpha W / m is Adam's (L2, not decoupled) weight decay.
        opt = torch.optim.Adam(
            [{"params": [W1t, W2t], "weight_decay": self.alpha / m}, {"params": [b1, b2t]}],
            lr=self.lr,
            fused=device.type in ("cpu", "cuda"),
        )
        Z, onehot = self._rows(X, y, gens, doubled=n > self.batch_size, dtype=dtype)
        with torch.no_grad():
            for start, stop in windows:
                Zb, Yt = Z[:, start:stop], onehot[:, :, start:stop]
                # forward: H = Z W1 + b1, logits^T = W2^T relu(H)^T + b2
                H = torch.bmm(Zb, W1t.to(dtype).transpose(1, 2)).float().add_(b1)
                A = torch.relu(H)
                Gt = torch.baddbmm(b2t, W2t, A.transpose(1, 2))
                # backward of mean CE (the penalty is in Adam), written out
                Gt = torch.softmax(Gt, dim=1).sub_(Yt).div_(m)  # d loss / d logits^T
                torch.bmm(Gt, A, out=W2t.grad)
                torch.sum(Gt, dim=2, keepdim=True, out=b2t.grad)
                dH = torch.ops.aten.threshold_backward(torch.bmm(Gt.transpose(1, 2), W2t), H, 0.0)
                W1t.grad.copy_(torch.bmm(dH.to(dtype).transpose(1, 2), Zb))
                torch.sum(dH, dim=1, keepdim=True, out=b1.grad)
                opt.step()
        self.params_ = [W1t.transpose(1, 2), b1, W2t.transpose(1, 2), b2t.transpose(1, 2)]
        self.n_iter_ = len(windows)
        return self

    def _logits(self, Z: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = self.params_
        Z = Z.expand(W1.shape[0], -1, -1)
        return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, Z, W1)), W2)

    def _logits_shared(self, X: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = self.params_
        H = self._shared_affine(X, W1, b1, getattr(torch, self.product_dtype_))
        return torch.baddbmm(b2, torch.relu(H), W2)
