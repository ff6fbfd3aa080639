"""nll_loss_forward / nll_loss_backward on kiln-run against PyTorch eager,
per floating dtype and backend: every reduction, with and without class
weights, ignore_index hitting and missing, 1-d and 2-d inputs, uint8
targets, empty batches, non-contiguous log-probabilities; and the
cross-entropy training step the captured MLP uses (log_softmax + nll_loss
forward and backward), traced with make_fx."""

from __future__ import annotations

from typing import Tuple

import pytest
import torch
import torch.nn.functional as F

from torch.fx.experimental.proxy_tensor import make_fx

from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import make_tensor
from kiln_harness import KilnRun, check_graph
from one_node import DTYPES, check_ops, check_refused, targets

A = torch.ops.aten
FLOATS = [d for d in DTYPES if d.is_floating_point]
INTS = [d for d in DTYPES if not d.is_floating_point and d != torch.bool]

OVERLOADS = ["aten::nll_loss_forward.default", "aten::nll_loss_backward.default"]


def test_every_overload_is_registered(kiln: KilnRun) -> None:
    ops = kiln.ops()
    for op in OVERLOADS:
        assert op in ops, op


def _cases(dtype: torch.dtype):
    """(self, target, weight, reduction, ignore_index) calls."""
    x = make_tensor([6, 4], dtype, seed=1)
    t = torch.tensor([0, 3, 1, 1, 2, 3])
    w = make_tensor([4], dtype, seed=2, low=0.5, high=2)
    out = []
    for reduction in (0, 1, 2):
        for weight in (None, w):
            for ignore in (-100, 1):
                out.append((x, t, weight, reduction, ignore))
        out.append((make_tensor([4, 6], dtype, seed=3).t(), t, w, reduction, 3))
        out.append((x[0], torch.tensor(2), w, reduction, -100))
        out.append((x, t.to(torch.uint8), None, reduction, -100))
        out.append((make_tensor([0, 4], dtype), torch.zeros(0, dtype=torch.int64), w, reduction, -100))
    out.append((x, torch.full([6], 1), w, 1, 1))  # every target ignored: NaN
    return out


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_nll_loss(dtype: torch.dtype, backend: str, kiln: KilnRun) -> None:
    calls = []
    for x, t, w, reduction, ignore in _cases(dtype):
        calls.append((A.nll_loss_forward.default, (x, t, w, reduction, ignore), {}))
        _, total = A.nll_loss_forward.default(x.float(), t, None if w is None else w.float(), reduction, ignore)
        per_sample = reduction == 0 and x.dim() == 2
        grad = make_tensor([x.shape[0]] if per_sample else [], dtype, seed=4)
        args = (grad, x, t, w, reduction, ignore, total.to(dtype))
        calls.append((A.nll_loss_backward.default, args, {}))
    check_ops(kiln, backend, calls, opmath=True, scale=4.0)


def test_traced_cross_entropy_step(backend: str, kiln: KilnRun) -> None:
    def step(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        logits = F.linear(torch.relu(x), w, b)
        loss = F.cross_entropy(logits, t, ignore_index=2) + F.nll_loss(F.log_softmax(logits, 1), t, reduction="sum")
        return (loss,) + torch.autograd.grad(loss, (x, w, b))

    x = make_tensor([8, 5], torch.float32, seed=1).requires_grad_()
    w = make_tensor([4, 5], torch.float32, seed=2).requires_grad_()
    b = make_tensor([4], torch.float32, seed=3).requires_grad_()
    t = torch.tensor([0, 1, 2, 3, 2, 1, 0, 3])
    inputs = [x, w, b, t]
    graph = export_graph(make_fx(step)(*inputs), inputs)
    missing = set(OVERLOADS + ["aten::_log_softmax.default", "aten::_log_softmax_backward_data.default"]) - set(targets(graph))
    assert not missing, f"the trace lacks {sorted(missing)}"
    check_graph(kiln, graph, inputs, backend=backend, scale=4.0)


def test_refuses_what_aten_refuses(backend: str, kiln: KilnRun) -> None:
    """Same refusals as eager, with a message fragment both give; an out of
    range target fails at run time."""
    x, t = make_tensor([2, 3], torch.float32), torch.tensor([2, 0])
    fwd, bwd = "aten::nll_loss_forward.default", "aten::nll_loss_backward.default"
    one = torch.tensor(1.0)
    refused = [
        (fwd, (make_tensor([2, 3, 4], torch.float32), t, None, 1, -100), "input tensor should be 1D or 2D"),
        (fwd, (x, t[None], None, 1, -100), "0D or 1D target tensor expected, multi-target not supported"),
        (fwd, (x, torch.tensor([1, 2, 0]), None, 1, -100), "size mismatch (got input: [2, 3], target: [3])"),
        (
            fwd, (x, t, make_tensor([2], torch.float32), 1, -100),
            "weight tensor should be defined either for all 3 classes or no classes but got weight tensor of shape: [2]",
        ),
        (bwd, (one.expand(2).clone(), x, t, None, 2, -100, one), "Expected a single element grad_output tensor, but got: [2]"),
        (bwd, (one, x, t, None, 1, -100, one.expand(2).clone()), "single element tensor, got: [2]"),
    ]  # fmt: skip
    for target, args, message in refused:
        check_refused(kiln, backend, target, *args, message=message)
    out_of_range = torch.tensor([3, 0])
    check_refused(
        kiln, backend, fwd, x, out_of_range, None, 1, -100, message="Target 3 is out of bounds.",
        declared=[torch.zeros(()), torch.zeros(())],
    )  # fmt: skip
    check_refused(
        kiln, backend, bwd, one, x, out_of_range, None, 1, -100, one, message="Target 3 is out of bounds.",
        declared=[torch.zeros(2, 3)],
    )  # fmt: skip
