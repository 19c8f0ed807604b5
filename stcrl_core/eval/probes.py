"""Probes on frozen features, batched over trials: logistic regression and an MLP.

All trials of a label budget train together in one tensor program (batched
matrix products over a leading trial axis), on the GPU when there is one, else
the CPU. Features are standardised per trial with the mean and standard
deviation of that trial's training subset.

Both follow scikit-learn's estimator conventions: parameters stored in
``__init__``, ``fit`` returns ``self``, fitted attributes end in ``_``,
``random_state`` resolved in ``fit``. ``X`` is ``(n, d)`` for one trial or
``(T, n, d)`` for ``T`` trials (then ``y`` is ``(T, n)``); ``predict`` takes
evaluation features ``(m, d)`` shared by all trials (or ``(T, m, d)``).

* :class:`LogisticProbe` minimises scikit-learn's multinomial objective
  ``C * sum_i CE_i + ||W||^2 / 2`` (intercept not penalised) with L-BFGS on a
  hand-written gradient (``G^T Z``, faster than autograd's ``Z^T G``); gradient
  tolerance 1e-3 by default, which matches scikit-learn's F1 within 0.003
  (``benchmarks/bench_probes.py``).
* :class:`MLPProbe` has one ReLU hidden layer (100 units by default) and
  minimises ``mean CE + alpha * ||W||^2 / (2 n)`` (scikit-learn's
  ``MLPClassifier`` objective) with full-batch Adam on a hand-written
  gradient, the two feature products in bfloat16 where the hardware has it;
  50 steps at lr 1e-3 by default, which ``benchmarks/bench_probes.py`` found
  to match scikit-learn's F1 within 0.02 (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from stcrl_core.engine import resolve_device

N_CLASSES = 4


def _as_batched(X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None) -> tuple:
    X = torch.as_tensor(np.array(X) if not isinstance(X, torch.Tensor) else X)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (n, d) or (trials, n, d), got shape {tuple(X.shape)}")
    single = X.ndim == 2
    if single:
        X = X[None]
    if y is not None:
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if single:
            y = y[None]
        if y.shape != X.shape[:2]:
            raise ValueError(
                f"X of shape {tuple(X.shape[1:]) if single else tuple(X.shape)} needs y of shape "
                f"{(X.shape[1],) if single else tuple(X.shape[:2])}, "
                f"got {tuple(y.shape[1:]) if single else tuple(y.shape)}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= N_CLASSES):
            raise ValueError(f"labels must be damage classes 0..{N_CLASSES - 1}")
    return X, y, single


class _BatchedProbe:
    """Shared fitting plumbing of the probes."""

    device: str
    random_state: int | None

    def _prepare(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.device]:
        Xb, yb, single = _as_batched(X, y)
        device = resolve_device(self.device)
        Xb = Xb.to(device=device, dtype=torch.float32)
        yb = yb.to(device=device, dtype=torch.long)
        self.mean_ = Xb.mean(dim=1, keepdim=True)
        scale = Xb.std(dim=1, unbiased=False, keepdim=True)
        self.scale_ = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
        self.single_ = single
        self.n_features_in_ = Xb.shape[2]
        self.classes_ = np.arange(N_CLASSES)
        self.device_ = device
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        self.seeds_ = [seed + t for t in range(Xb.shape[0])]  # trial t of a batch: seed + t
        return (Xb - self.mean_) / self.scale_, yb, device

    def _standardise_eval(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        X = torch.as_tensor(np.array(X) if not isinstance(X, torch.Tensor) else X)
        X = X.to(device=self.device_, dtype=torch.float32)
        if X.ndim == 2:
            X = X[None]
        if X.ndim != 3 or X.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X must have {self.n_features_in_} features, got shape {tuple(X.shape)}"
            )
        return (X - self.mean_) / self.scale_

    def _logits(self, Z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _logits_shared(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _shared_affine(self, X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``((X - mean_) / scale_) @ W + b`` of every trial for shared ``X`` ``(m, d)``.

        The standardisation is folded into ``W`` and ``b``, so this is one
        ``(m, d) x (d, T * k)`` product instead of a ``(T, m, d)`` standardised copy.
        """
        W = W / self.scale_.transpose(1, 2)
        b = b - torch.bmm(self.mean_, W)
        t, d, k = W.shape
        out = X @ W.permute(1, 0, 2).reshape(d, t * k)
        return out.reshape(-1, t, k).transpose(0, 1) + b

    def predict_proba(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class probabilities: ``(T, m, 4)``, or ``(m, 4)`` when fitted on one trial."""
        X = torch.as_tensor(np.array(X) if not isinstance(X, torch.Tensor) else X)
        with torch.no_grad():
            if X.ndim == 2 and X.shape[1] == self.n_features_in_:
                X = X.to(device=self.device_, dtype=torch.float32)
                logits = self._logits_shared(X)
            else:
                logits = self._logits(self._standardise_eval(X))
            proba = torch.softmax(logits, dim=-1).cpu().numpy()
        return proba[0] if self.single_ else proba

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted classes: ``(T, m)``, or ``(m,)`` when fitted on one trial."""
        return self.predict_proba(X).argmax(axis=-1)


class LogisticProbe(_BatchedProbe):
    """Multinomial L2 logistic regression, batched over trials (L-BFGS).

    Args:
        C: Inverse regularisation strength (scikit-learn's ``C``).
        max_iter: L-BFGS iterations.
        tol: Gradient tolerance.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        random_state: Unused by the deterministic solver; kept for API symmetry.
    """

    def __init__(
        self, C: float = 1.0, max_iter: int = 100, tol: float = 1e-3, device: str = "auto",
        random_state: int | None = None,
    ) -> None:  # fmt: skip
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticProbe:
        """Fit on ``(n, d)``/``(n,)`` or ``(T, n, d)``/``(T, n)``."""
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        Z, y, device = self._prepare(X, y)
        t, n, d = Z.shape
        onehot = F.one_hot(y, N_CLASSES).to(Z.dtype)
        # Weights held as (T, C, d) so that the gradient is G^T Z, a (C x n)(n x d)
        # product: several times faster on CPU than autograd's Z^T G for C = 4.
        Wt = torch.zeros(t, N_CLASSES, d, device=device)
        b = torch.zeros(t, 1, N_CLASSES, device=device)
        Wt.grad, b.grad = torch.zeros_like(Wt), torch.zeros_like(b)
        opt = torch.optim.LBFGS(
            [Wt, b], lr=1, max_iter=self.max_iter, tolerance_grad=self.tol, tolerance_change=1e-10,
            history_size=20, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure() -> torch.Tensor:
            # (C * sum CE + ||W||^2 / 2) / n and its gradient, written out (no autograd)
            logp = torch.log_softmax(torch.baddbmm(b, Z, Wt.transpose(1, 2)), dim=-1)
            G = (logp.exp() - onehot).mul_(self.C / n)  # d loss / d logits
            torch.bmm(G.transpose(1, 2), Z, out=Wt.grad)
            Wt.grad.add_(Wt, alpha=1 / n)
            torch.sum(G, dim=1, keepdim=True, out=b.grad)
            return (-self.C * (logp * onehot).sum() + 0.5 * (Wt * Wt).sum()) / n

        with torch.no_grad():
            opt.step(closure)
        self.coef_ = Wt.transpose(1, 2).contiguous()
        self.intercept_ = b
        self.n_iter_ = opt.state[opt._params[0]].get("n_iter", 0)
        return self

    def _logits(self, Z: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.intercept_, Z.expand(self.coef_.shape[0], -1, -1), self.coef_)

    def _logits_shared(self, X: torch.Tensor) -> torch.Tensor:
        return self._shared_affine(X, self.coef_, self.intercept_)


class MLPProbe(_BatchedProbe):
    """One-hidden-layer ReLU MLP, batched over trials (full-batch Adam).

    The forward and backward passes are written out (no autograd). The two
    products with the features, ``Z W1`` and ``Z^T dH``, which are nearly all of
    the work, run in bfloat16 (float32 accumulation) when ``precision`` allows
    it; everything else, the weights and Adam's state stay float32.

    Args:
        hidden: Hidden units.
        alpha: L2 penalty (scikit-learn's ``alpha``).
        lr: Adam learning rate.
        max_iter: Adam steps.
        precision: ``auto`` (bfloat16 products on CUDA, and on CPUs with native
            bfloat16 support), ``bfloat16`` or ``float32``.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        random_state: Seed of the weight initialisation; trial ``t`` of a batch
            uses ``random_state + t``, so a batched fit equals separate fits.
    """

    def __init__(
        self, hidden: int = 100, alpha: float = 1e-4, lr: float = 1e-3, max_iter: int = 50,
        precision: str = "auto", device: str = "auto", random_state: int | None = None,
    ) -> None:  # fmt: skip
        self.hidden = hidden
        self.alpha = alpha
        self.lr = lr
        self.max_iter = max_iter
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

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPProbe:
        """Fit on ``(n, d)``/``(n,)`` or ``(T, n, d)``/``(T, n)``."""
        Z, y, device = self._prepare(X, y)
        t, n, d = Z.shape
        dtype = self._product_dtype(device)
        self.product_dtype_ = str(dtype).removeprefix("torch.")

        def glorot(fan_in: int, fan_out: int, gens: list[torch.Generator]) -> torch.Tensor:
            bound = math.sqrt(6 / (fan_in + fan_out))
            w = torch.stack([torch.rand(fan_in, fan_out, generator=g) for g in gens]) * 2 - 1
            return (w * bound).to(device)

        gens = [torch.Generator().manual_seed(s) for s in self.seeds_]
        W1, W2 = glorot(d, self.hidden, gens), glorot(self.hidden, N_CLASSES, gens)
        b1 = torch.zeros(t, 1, self.hidden, device=device)
        b2 = torch.zeros(t, 1, N_CLASSES, device=device)
        params = [W1, b1, W2, b2]
        for p in params:
            p.grad = torch.zeros_like(p)
        opt = torch.optim.Adam(params, lr=self.lr)
        Zp, Zt = Z.to(dtype), Z.transpose(1, 2).contiguous().to(dtype)
        onehot = F.one_hot(y, N_CLASSES).to(torch.float32)
        decay = self.alpha / n
        with torch.no_grad():
            for _ in range(self.max_iter):
                # forward: (mean CE + alpha ||W||^2 / 2n); backward written out
                H = torch.bmm(Zp, W1.to(dtype)).float().add_(b1)
                A = torch.relu(H)
                G = torch.softmax(torch.baddbmm(b2, A, W2), dim=-1).sub_(onehot).div_(n)
                torch.bmm(A.transpose(1, 2), G, out=W2.grad)
                W2.grad.add_(W2, alpha=decay)
                torch.sum(G, dim=1, keepdim=True, out=b2.grad)
                dH = torch.bmm(G, W2.transpose(1, 2)).mul_(H > 0)
                W1.grad.copy_(torch.bmm(Zt, dH.to(dtype)))
                W1.grad.add_(W1, alpha=decay)
                torch.sum(dH, dim=1, keepdim=True, out=b1.grad)
                opt.step()
        self.params_ = params
        self.n_iter_ = self.max_iter
        return self

    def _logits(self, Z: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = self.params_
        Z = Z.expand(W1.shape[0], -1, -1)
        return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, Z, W1)), W2)

    def _logits_shared(self, X: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = self.params_
        return torch.baddbmm(b2, torch.relu(self._shared_affine(X, W1, b1)), W2)


PROBES = {"lr": LogisticProbe, "mlp": MLPProbe}
