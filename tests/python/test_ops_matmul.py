"""Matrix products on kiln-run against PyTorch eager, per dtype and backend:
mm, bmm, addmm and baddbmm with beta/alpha (integer operands take them as
integers), every broadcastable `self`, beta = 0 ignoring NaN, transposed
operands, empty inner dimensions; and a traced linear/attention training
step. The CUDA-only `.dtype` overloads and the calls ATen refuses are tested
in compiler/ops/matmul_ops_test.cc."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

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
Call = Tuple[Any, Tuple[Any, ...], Dict[str, Any]]

OVERLOADS = [
    "aten::mm.default", "aten::bmm.default", "aten::addmm.default", "aten::baddbmm.default",
    # PyTorch 2, CUDA only: float16/bfloat16 operands with a float32 result.
    "aten::mm.dtype", "aten::bmm.dtype", "aten::addmm.dtype", "aten::baddbmm.dtype",
]  # fmt: skip


def test_every_overload_is_registered(kiln: KilnRun) -> None:
    ops = kiln.ops()
    for op in OVERLOADS:
        assert op in ops and ops[op].category == "matmul", op


def _calls(dtype: torch.dtype) -> List[Call]:
    a, b = make_tensor([3, 4], dtype, seed=1), make_tensor([4, 5], dtype, seed=2)
    p, q = make_tensor([2, 3, 4], dtype, seed=3), make_tensor([2, 4, 5], dtype, seed=4)
    floating = dtype in FLOATS
    scales = [{"beta": 0.5, "alpha": 2.0}, {"beta": -1.5}] if floating else [{"beta": 2, "alpha": 3}, {"alpha": 1.5}]
    calls: List[Call] = [
        (A.mm.default, (a, b), {}),
        (A.mm.default, (make_tensor([4, 3], dtype, seed=5).t(), make_tensor([5, 4], dtype, seed=6).t()), {}),
        (A.mm.default, (make_tensor([3, 0], dtype), make_tensor([0, 2], dtype)), {}),
        (A.bmm.default, (p, q), {}),
        (A.bmm.default, (p.transpose(1, 2).contiguous().transpose(1, 2), q), {}),
    ]
    for self_shape in ([3, 5], [5], [3, 1], [1, 5], []):
        for kw in scales:
            calls.append((A.addmm.default, (make_tensor(self_shape, dtype, seed=7), a, b), kw))
    for self_shape in ([2, 3, 5], [3, 5], [5], [2, 1, 1], []):
        for kw in scales:
            calls.append((A.baddbmm.default, (make_tensor(self_shape, dtype, seed=8), p, q), kw))
    calls.append((A.addmm.default, (make_tensor([5, 3], dtype, seed=9).t(), a, b), {}))
    if floating:
        nan_self = make_tensor([3, 5], dtype, seed=10)
        nan_self[1, 2] = math.nan
        # beta=0 ignores self, NaNs included (ATen's contract, which Kiln
        # follows). torch 1.13's CPU baddbmm sometimes lets a NaN in self
        # through with beta=0 (it depends on its threading split), so eager
        # is a stable reference for this only through addmm.
        calls.append((A.addmm.default, (nan_self, a, b), {"beta": 0}))
    return calls


@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=str)
def test_matches_eager(dtype: torch.dtype, backend: str, kiln: KilnRun) -> None:
    # Products summed in another order than ATen's blocked kernels.
    check_ops(kiln, backend, _calls(dtype), opmath=True, scale=10.0)


def test_traced_linear_attention_step(backend: str, kiln: KilnRun) -> None:
    def step(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        h = F.linear(x, w, b)  # addmm
        q = h.view(2, 3, 4)
        scores = torch.baddbmm(torch.zeros(2, 3, 3, dtype=q.dtype), q, q.transpose(1, 2), alpha=0.5)
        out = torch.bmm(scores, q)
        loss = out.pow(2).sum()
        return (loss,) + torch.autograd.grad(loss, (x, w, b))

    x = make_tensor([6, 5], torch.float64, seed=1).requires_grad_()
    w = make_tensor([4, 5], torch.float64, seed=2).requires_grad_()
    b = make_tensor([4], torch.float64, seed=3).requires_grad_()
    inputs = [x, w, b]
    graph = export_graph(make_fx(step)(*inputs), inputs)
    missing = set(["aten::addmm.default", "aten::baddbmm.default", "aten::bmm.default", "aten::mm.default"]) - set(targets(graph))
    assert not missing, f"the trace lacks {sorted(missing)}"
    check_graph(kiln, graph, inputs, backend=backend, scale=10.0)


def test_refuses_what_aten_refuses(backend: str, kiln: KilnRun) -> None:
    """Same refusals as eager, with a message fragment both give."""
    a, p = make_tensor([2, 3], torch.float32), make_tensor([2, 2, 3], torch.float32)
    refused = [
        ("aten::mm.default", (a, a[0]), "must be a matrix"),
        ("aten::bmm.default", (a, a.t()), "batch1 must be a 3D tensor"),
        ("aten::bmm.default", (p, p[:1].transpose(1, 2)), "Expected size for first two dimensions of batch2 tensor"),
        ("aten::bmm.default", (p, p), "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [2, 2]"),
    ]
    for target, args, message in refused:
        check_refused(kiln, backend, target, *args, message=message)
