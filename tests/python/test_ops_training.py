"""The pointwise backward ops of training graphs on kiln-run against PyTorch
eager, per dtype and backend: threshold_backward (every non-bool dtype,
integer and float thresholds, NaN inputs), sigmoid/tanh_backward, and
gelu_backward with approximate 'none' and 'tanh'; mixed dtypes (type
promotion), broadcasting and non-contiguous operands (the output layout is
TensorIterator's); and a traced MLP step whose backward uses them."""

from __future__ import annotations

import math
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

OVERLOADS = [
    "aten::threshold_backward.default", "aten::sigmoid_backward.default", "aten::tanh_backward.default",
    "aten::gelu_backward.default",
]  # fmt: skip


def test_every_overload_is_pointwise(kiln: KilnRun) -> None:
    ops = kiln.ops()
    for op in OVERLOADS:
        assert op in ops and ops[op].category == "pointwise", op


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != torch.bool], ids=str)
def test_threshold_backward(dtype: torch.dtype, backend: str, kiln: KilnRun) -> None:
    fn = A.threshold_backward.default
    g, x = make_tensor([4, 5], dtype, seed=1), make_tensor([4, 5], dtype, seed=2)
    if dtype in FLOATS:
        x[0, 0] = x[2, 3] = math.nan
    calls = [(fn, (g, x, threshold), {}) for threshold in (0, 1, 2.5, -1)]
    calls += [
        (fn, (g, make_tensor([5, 4], dtype, seed=3).t(), 0), {}),  # self leads the layout
        (fn, (make_tensor([4, 1], dtype, seed=4), make_tensor([5], dtype, seed=5), 0), {}),  # broadcasting
        (fn, (g.float(), x, 0.5), {}),  # promotion
        (fn, (make_tensor([0, 3], dtype), make_tensor([0, 3], dtype), 0), {}),
    ]
    check_ops(kiln, backend, calls, opmath=True)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("op", ["sigmoid_backward", "tanh_backward"])
def test_sigmoid_tanh_backward(op: str, dtype: torch.dtype, backend: str, kiln: KilnRun) -> None:
    fn = getattr(A, op).default
    g = make_tensor([3, 6], dtype, seed=1)
    y = make_tensor([3, 6], dtype, seed=2, low=-1, high=1)
    other = torch.float64 if dtype != torch.float64 else torch.float32
    calls = [
        (fn, (g, y), {}),
        (fn, (g.t(), make_tensor([6, 3], dtype, seed=3)), {}),
        (fn, (g, y[0]), {}),  # broadcasting
        (fn, (g, y.to(other)), {}),  # promotion
    ]
    check_ops(kiln, backend, calls, opmath=True, scale=2.0)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward(approximate: str, dtype: torch.dtype, backend: str, kiln: KilnRun) -> None:
    fn = A.gelu_backward.default
    g, x = make_tensor([4, 5], dtype, seed=1), make_tensor([4, 5], dtype, seed=2, low=-5, high=5)
    kwargs = {"approximate": approximate}
    calls = [(fn, (g, x), kwargs), (fn, (g, make_tensor([5, 4], dtype, seed=3).t()), kwargs)]
    check_ops(kiln, backend, calls, opmath=True, scale=4.0)


def test_traced_mlp_step(backend: str, kiln: KilnRun) -> None:
    def step(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        h = torch.relu(x @ w1)
        h = F.gelu(h @ w2, approximate="tanh") + F.gelu(h @ w2)
        h = torch.sigmoid(h) * torch.tanh(h @ w3)
        loss = h.sum()
        return (loss,) + torch.autograd.grad(loss, (x, w1, w2, w3))

    x = make_tensor([4, 6], torch.float32, seed=1).requires_grad_()
    ws = [make_tensor(s, torch.float32, seed=i + 2).requires_grad_() for i, s in enumerate(([6, 5], [5, 5], [5, 5]))]
    inputs = [x, *ws]
    graph = export_graph(make_fx(step)(*inputs), inputs)
    missing = set(OVERLOADS) - set(targets(graph))
    assert not missing, f"the trace lacks {sorted(missing)}"
    check_graph(kiln, graph, inputs, backend=backend, scale=8.0)


def test_refuses_what_aten_refuses(backend: str, kiln: KilnRun) -> None:
    """Same refusals as eager, with a message fragment both give."""
    x, u = make_tensor([4], torch.float32), make_tensor([4], torch.uint8)
    check_refused(kiln, backend, "aten::threshold_backward.default", u, u, 300, message="cannot be converted to")
    check_refused(
        kiln, backend, "aten::gelu_backward.default", x, x, approximate="erf",
        message="approximate argument must be either none or tanh",
    )  # fmt: skip
