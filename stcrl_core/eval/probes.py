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
  ``C * sum_i w_i CE_i + ||W||^2 / 2`` (intercept not penalised; ``w_i = 1``, or
  scikit-learn's ``class_weight="balanced"`` weights ``n / (k n_c)``) with L-BFGS on a
  hand-written gradient (``G^T X``, faster than autograd's ``X^T G``), the
  standardisation folded into the weights instead of applied to a copy of the
  features; gradient tolerance 1e-3 by default, which matches scikit-learn's F1
  within 0.01 (``benchmarks/bench_probes.py``).
* :class:`MLPProbe` has one ReLU hidden layer (100 units by default) and
  minimises ``mean CE + alpha * ||W||^2 / (2 m)`` on minibatches of ``m`` rows
  (scikit-learn's ``MLPClassifier`` objective, minibatches of at most 200) with
  Adam on a hand-written gradient, the two feature products in bfloat16 where
  the hardware has it; 75 updates at lr 1e-3, or 50 epochs when that is fewer
  (a budget of at most 200 labels is one minibatch), by default, which
  ``benchmarks/bench_probes.py`` found to match scikit-learn's F1 within 0.02
  at a twentieth of its time (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stcrl_core.eval.batched_probe import N_CLASSES, BatchedProbe, trial_statistics
from stcrl_core.eval.mlp_probe import MLPProbe, minibatch_windows

__all__ = [
    "PROBES",
    "PROBES_VERSION",
    "LogisticProbe",
    "MLPProbe",
    "minibatch_windows",
    "trial_statistics",
]

# Part of every label-budget experiment's id: bump it when a probe's training
# changes its results, so stored experiments of the old probes are not reused.
# 2: minibatch MLP (75 updates / 50 epochs), logistic probe on folded standardisation.
PROBES_VERSION = 2


class LogisticProbe(BatchedProbe):
    """Multinomial L2 logistic regression, batched over trials (L-BFGS).

    Args:
        C: Inverse regularisation strength (scikit-learn's ``C``).
        class_weight: None (every label weighs 1) or ``"balanced"``: each label
            weighs ``n / (k * n_c)`` for its class's count ``n_c`` among the
            ``k`` classes present in its trial (scikit-learn's), for labels
            drawn with the natural, unbalanced class mix.
        max_iter: L-BFGS iterations.
        tol: Gradient tolerance.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        random_state: Unused by the deterministic solver; kept for API symmetry.
        warm_start: Start ``fit`` from the weights of the previous fit (of the
            same number of trials and features) instead of zeros, as
            scikit-learn's ``warm_start``: a refit after a few more labels then
            needs few iterations (the labelling loop's live model).
    """

    def __init__(
        self, C: float = 1.0, max_iter: int = 100, tol: float = 1e-3, device: str = "auto",
        random_state: int | None = None, class_weight: str | None = None,
        warm_start: bool = False,
    ) -> None:  # fmt: skip
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticProbe:
        """Fit on ``(n, d)``/``(n,)`` or ``(T, n, d)``/``(T, n)``."""
        if self.C <= 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        previous = self._previous_weights() if self.warm_start else None
        X, y, device = self._prepare(X, y)
        t, n, d = X.shape
        onehot_t = F.one_hot(y, N_CLASSES).to(X.dtype).transpose(1, 2)  # (T, 4, n)
        if self.class_weight == "balanced":
            counts = onehot_t.sum(dim=2, keepdim=True)  # (T, 4, 1)
            present = (counts > 0).sum(dim=1, keepdim=True)
            per_class = torch.where(counts > 0, n / (present * counts.clamp(min=1)), 0.0)
            onehot_t = onehot_t * per_class  # row i of class c weighs per_class[c]
        weights = onehot_t.sum(dim=1, keepdim=True)  # (T, 1, n): w_i (1 unweighted)
        # The weights Wt (T, 4, d) act on standardised features Z = (X - mean) / scale,
        # but the products read X itself: Z Wt^T = X (Wt / scale)^T - mean (Wt / scale)^T
        # and Z^T-gradients fold the same way, so no standardised copy of X is made.
        # The gradient is Gt X, a (4 x n)(n x d) product, several times faster on CPU
        # than autograd's X^T G; logits are softmaxed as (T, 4, n), not (T, n, 4).
        mean, scale = self.mean_, self.scale_
        if (mean.abs() / scale).max() > 100:  # folding would cancel digits: standardise
            X = (X - mean) / scale
            mean, scale = torch.zeros_like(mean), torch.ones_like(scale)
        Wt = torch.zeros(t, N_CLASSES, d, device=device)
        b = torch.zeros(t, 1, N_CLASSES, device=device)
        if previous is not None and previous[0].shape == (t, d, N_CLASSES):
            # the previous model's function, re-expressed on this fit's standardisation:
            # (X - m0) / s0 W0 + b0 = (X - m1) / s1 (W0 s1 / s0) + b0 + (m1 - m0) / s0 W0
            coef, intercept, m0, s0 = previous
            Wt.copy_(coef.transpose(1, 2) * self.scale_ / s0)
            b.copy_(intercept + torch.bmm((self.mean_ - m0) / s0, coef))
        Wt.grad, b.grad = torch.zeros_like(Wt), torch.zeros_like(b)
        opt = torch.optim.LBFGS(
            [Wt, b], lr=1, max_iter=self.max_iter, tolerance_grad=self.tol, tolerance_change=1e-10,
            history_size=20, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure() -> torch.Tensor:
            # (C * sum CE + ||W||^2 / 2) / n and its gradient, written out (no autograd)
            Ws = Wt / scale
            bias = b - torch.bmm(mean, Ws.transpose(1, 2))
            logits_t = torch.baddbmm(bias, X, Ws.transpose(1, 2)).transpose(1, 2).contiguous()
            logp = torch.log_softmax(logits_t, dim=1)
            # d loss / d logits^T: w_i (p_i - onehot_i), the weights carried by onehot_t
            Gt = (logp.exp() * weights - onehot_t).mul_(self.C / n)
            g = Gt.sum(dim=2, keepdim=True)  # (T, 4, 1)
            torch.baddbmm(torch.bmm(Gt, X), g, mean, alpha=-1, out=Wt.grad)
            Wt.grad.div_(scale).add_(Wt, alpha=1 / n)
            b.grad.copy_(g.transpose(1, 2))
            return (-self.C * (logp * onehot_t).sum() + 0.5 * (Wt * Wt).sum()) / n

        with torch.no_grad():
            opt.step(closure)
        self.coef_ = Wt.transpose(1, 2).contiguous()
        self.intercept_ = b
        self.n_iter_ = opt.state[opt._params[0]].get("n_iter", 0)
        return self

    def _previous_weights(self) -> tuple[torch.Tensor, ...] | None:
        """The fitted ``(coef_, intercept_, mean_, scale_)`` to warm-start from, if any."""
        coef = getattr(self, "coef_", None)
        return None if coef is None else (coef, self.intercept_, self.mean_, self.scale_)

    def _logits(self, Z: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.intercept_, Z.expand(self.coef_.shape[0], -1, -1), self.coef_)

    def _logits_shared(self, X: torch.Tensor) -> torch.Tensor:
        return self._shared_affine(X, self.coef_, self.intercept_)


PROBES = {"lr": LogisticProbe, "mlp": MLPProbe}
