"""Shared plumbing of the batched probes: input checks, per-trial standardisation,
prediction with the standardisation folded into the weights.

``X`` is ``(n, d)`` for one trial or ``(T, n, d)`` for ``T`` trials (then ``y``
is ``(T, n)``); ``predict`` takes evaluation features ``(m, d)`` shared by all
trials (or ``(T, m, d)``). See :mod:`stcrl_core.eval.probes` for the probes.
"""

from __future__ import annotations

import numpy as np
import torch

from stcrl_core.devices import resolve_device

N_CLASSES = 4


def _as_tensor(X: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor sharing ``X``'s memory where possible (the probes never write to it);
    read-only (e.g. memory-mapped) and non-contiguous arrays are copied."""
    if isinstance(X, torch.Tensor):
        return X
    X = np.ascontiguousarray(X)
    return torch.from_numpy(X if X.flags.writeable else X.copy())


def as_batched(X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None) -> tuple:
    """``(X, y, single)``: features as ``(T, n, d)`` and labels as ``(T, n)`` tensors,
    and whether one trial was given; ``ValueError`` naming the shapes on a mismatch
    and on labels outside the four damage classes."""
    X = _as_tensor(X)
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


def trial_statistics(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-trial feature means and standard deviations of ``(T, n, d)`` features.

    Returns ``(mean, scale)``, each ``(T, 1, d)``; a constant feature gets scale 1.
    Computed one trial at a time in two passes (centre, then mean square): several
    times faster on CPU than ``Tensor.std`` over the middle axis of the whole batch.
    """
    means, scales = [], []
    for t in range(X.shape[0]):
        mean = X[t].mean(dim=0, keepdim=True)
        scale = (X[t] - mean).square_().mean(dim=0, keepdim=True).sqrt_()
        means.append(mean)
        scales.append(torch.where(scale > 1e-12, scale, torch.ones_like(scale)))
    return torch.stack(means), torch.stack(scales)


class BatchedProbe:
    """Shared fitting plumbing of the probes."""

    device: str
    random_state: int | None

    def _prepare(
        self, X: np.ndarray, y: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.device]:
        """Checked ``(T, n, d)`` float32 features and ``(T, n)`` labels on the device;
        sets the per-trial ``mean_`` and ``scale_`` (the probes standardise with them)."""
        Xb, yb, single = as_batched(X, y)
        device = resolve_device(self.device)
        Xb = Xb.to(device=device, dtype=torch.float32)
        yb = yb.to(device=device, dtype=torch.long)
        self.mean_, self.scale_ = trial_statistics(Xb)
        self.single_ = single
        self.n_features_in_ = Xb.shape[2]
        self.classes_ = np.arange(N_CLASSES)
        self.device_ = device
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        self.seeds_ = [seed + t for t in range(Xb.shape[0])]  # trial t of a batch: seed + t
        return Xb, yb, device

    def _standardise_eval(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        X = _as_tensor(X)
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

    def _shared_affine(
        self, X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """``((X - mean_) / scale_) @ W + b`` of every trial for shared ``X`` ``(m, d)``.

        The standardisation is folded into ``W`` and ``b``, so this is one
        ``(m, d) x (d, T * k)`` product (in ``dtype``, float32 result) instead
        of a ``(T, m, d)`` standardised copy.
        """
        W = W / self.scale_.transpose(1, 2)
        b = b - torch.bmm(self.mean_, W)
        t, d, k = W.shape
        out = (X.to(dtype) @ W.permute(1, 0, 2).reshape(d, t * k).to(dtype)).float()
        return out.reshape(-1, t, k).transpose(0, 1) + b

    def predict_proba(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class probabilities: ``(T, m, 4)``, or ``(m, 4)`` when fitted on one trial."""
        X = _as_tensor(X)
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
