"""All-gather with gradients across ``torch.distributed`` processes.

The contrastive losses (ST-CRL, CSP) use every process's embeddings as
negatives, so they gather the batch from all processes and back-propagate
through the gather. ``torch.distributed.nn.functional.all_gather`` does this
but is deprecated, and with the gloo backend its backward (an all-to-all)
made 2-process runs abort at exit ("terminate called without an active
exception") about one time in three. This backward is one all-reduce.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist


class _GatherWithGrad(torch.autograd.Function):
    """Forward: concatenate every process's tensor; backward: sum the gradients over
    processes (each process's loss depends on all rows) and keep this rank's rows."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad() -> tuple[Callable[[torch.Tensor], torch.Tensor], int] | None:
    """The gradient-carrying gather and this process's rank, or None without a group.

    Returns None when ``torch.distributed`` is not initialised or has one
    process, so callers fall back to their single-process loss. The gathered
    tensor is the concatenation over ranks in rank order; every process must
    pass the same number of rows.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return _GatherWithGrad.apply, dist.get_rank()
