"""Creation ops on kiln-run against PyTorch eager: full, zeros, ones,
empty, empty_strided, scalar_tensor, arange (every overload, int and
float bounds, dtype inference, torch's element counts) and the *_like ops
(empty_like's layouts, dtype and memory_format arguments), per dtype.
``empty`` results are uninitialized in ATen: only their dtype, shape and
strides are compared."""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import LAYOUTS, make_tensor
from kiln_harness import KilnRun, check_graph
from one_node import DTYPES, check_op, check_refused, eager, targets

SIZES = ([2, 3], [0, 4], [], [1], [3, 1, 2])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_factories_match_eager(kiln: KilnRun, backend: str, dtype: torch.dtype) -> None:
    fill = True if dtype == torch.bool else (-2.5 if dtype.is_floating_point else 7)
    for size in SIZES:
        check_op(kiln, backend, "aten::full.default", size, fill, dtype=dtype)
        check_op(kiln, backend, "aten::zeros.default", size, dtype=dtype)
        check_op(kiln, backend, "aten::ones.default", size, dtype=dtype, device=torch.device("cpu"))
        check_op(kiln, backend, "aten::empty.memory_format", size, dtype=dtype, values=False)
    check_op(kiln, backend, "aten::scalar_tensor.default", fill, dtype=dtype)
    check_op(kiln, backend, "aten::scalar_tensor.default", 1, dtype=dtype)
    check_op(kiln, backend, "aten::empty_strided.default", [2, 3], [1, 2], dtype=dtype, values=False)
    check_op(
        kiln, backend, "aten::empty.memory_format", [2, 3, 4, 5], dtype=dtype,
        memory_format=torch.channels_last, values=False,
    )  # fmt: skip
    # A float fill into an integer dtype truncates; -1 wraps into uint8.
    check_op(kiln, backend, "aten::full.default", [3], 2.75, dtype=dtype)
    check_op(kiln, backend, "aten::full.default", [2], -1, dtype=dtype)


def test_default_dtypes(kiln: KilnRun, backend: str) -> None:
    """dtype=None: full follows its fill value (int -> int64, float -> the
    default float); the other factories give the default float."""
    for fill in (3, -2.5, 0.0):
        out = check_op(kiln, backend, "aten::full.default", [2, 2], fill)
        assert out[0].dtype == (torch.int64 if isinstance(fill, int) else torch.float32)
    assert check_op(kiln, backend, "aten::zeros.default", [2])[0].dtype == torch.float32
    assert check_op(kiln, backend, "aten::scalar_tensor.default", 4)[0].dtype == torch.float32


ARANGE_CASES = [
    ("aten::arange.default", (5,), {}),
    ("aten::arange.default", (5.0,), {}),
    ("aten::arange.default", (0,), {}),
    ("aten::arange.start", (2, 9), {}),
    ("aten::arange.start", (-3, 4), {}),
    ("aten::arange.start", (3, 3), {}),
    ("aten::arange.start", (0.5, 3), {}),
    ("aten::arange.start_step", (0, 5, 0.5), {}),
    ("aten::arange.start_step", (0, 1, 0.1), {}),
    ("aten::arange.start_step", (1, -5, -2), {}),
    ("aten::arange.start_step", (4.0, 0, -0.75), {}),
    ("aten::arange.start_step", (1, 10, 3), {}),
    ("aten::arange.start_step", (-1, 2, 0.3333333333333333), {}),
]


@pytest.mark.parametrize("dtype", [None] + [d for d in DTYPES if d != torch.bool], ids=str)
def test_arange_matches_eager(kiln: KilnRun, backend: str, dtype: torch.dtype) -> None:
    for target, args, kwargs in ARANGE_CASES:
        if dtype is not None:
            kwargs = dict(kwargs, dtype=dtype)
        # Where eager refuses (a float step truncated to 0 for integers, a
        # negative bound into uint8), kiln-run must refuse too.
        try:
            eager(target, args, kwargs)
        except RuntimeError as err:
            message = str(err).split("\n")[0]
            message = "without overflow" if "without overflow" in message else message[:40]
            check_refused(kiln, backend, target, *args, message=message, **kwargs)
            continue
        check_op(kiln, backend, target, *args, **kwargs)


def test_arange_int_bounds_follow_torch_113(kiln: KilnRun, backend: str) -> None:
    # Different counts for int64 and int32 from the same float bounds.
    for dtype in (torch.int64, torch.int32, torch.int16):
        check_op(kiln, backend, "aten::arange.start_step", 0.5, 5.7, 1, dtype=dtype)
        check_op(kiln, backend, "aten::arange.start_step", 5, 0.5, -1.5, dtype=dtype)
    check_op(kiln, backend, "aten::arange.start_step", 250, 260, 1, dtype=torch.uint8)


def test_creation_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    check_refused(kiln, backend, "aten::arange.start_step", 1, 5, -2,
                  message="upper bound and larger bound inconsistent with step sign")  # fmt: skip
    check_refused(kiln, backend, "aten::arange.start_step", 1, 5, 0, message="step must be nonzero")
    check_refused(kiln, backend, "aten::arange.start_step", 0, 2.5, 0.5, dtype=torch.int32,
                  message="step must be nonzero")  # fmt: skip
    check_refused(kiln, backend, "aten::arange.default", float("inf"), message="unsupported range: 0 -> inf")
    check_refused(kiln, backend, "aten::arange.start", 0.5, 1e30, message="invalid size, possible overflow?")
    check_refused(kiln, backend, "aten::arange.default", 5, dtype=torch.bool, message="not implemented for 'Bool'")
    check_refused(kiln, backend, "aten::full.default", [2, -3], 1.0,
                  message="Trying to create tensor with negative dimension -3: [2, -3]")  # fmt: skip
    check_refused(kiln, backend, "aten::empty.memory_format", [2, 3], memory_format=torch.channels_last,
                  message="required rank 4 tensor to use channels_last format")  # fmt: skip
    check_refused(kiln, backend, "aten::empty_strided.default", [2, 3], [1],
                  message="dimensionality of sizes (2) must match dimensionality of strides (1)")  # fmt: skip
    # c10's checked Scalar conversion: eager says "value cannot be converted
    # to type uint8_t without overflow", Kiln "value 300 cannot be converted
    # to u8 without overflow".
    for target, args, kwargs in (
        ("aten::full.default", ([2], 300), {"dtype": torch.uint8}),
        ("aten::full.default", ([2], -1.0), {"dtype": torch.uint8}),
        ("aten::full.default", ([2], 70000.0), {"dtype": torch.float16}),
        ("aten::full.default", ([2], float("nan")), {"dtype": torch.int32}),
        ("aten::scalar_tensor.default", (128,), {"dtype": torch.int8}),
        ("aten::full_like.default", (torch.zeros(3), 1e39), {"dtype": torch.bfloat16}),
        ("aten::arange.default", (1e30,), {"dtype": torch.int64}),
    ):
        check_refused(kiln, backend, target, *args, message="without overflow", **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_like_ops_match_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((3, 4), dtype, layout=layout, seed=1)
    fill = True if dtype == torch.bool else 3
    for kwargs in ({}, {"dtype": torch.float64}, {"memory_format": torch.contiguous_format},
                   {"memory_format": torch.preserve_format, "dtype": torch.int8}):  # fmt: skip
        check_op(kiln, backend, "aten::full_like.default", x, fill, **kwargs)
        check_op(kiln, backend, "aten::zeros_like.default", x, **kwargs)
        check_op(kiln, backend, "aten::ones_like.default", x, **kwargs)
        check_op(kiln, backend, "aten::empty_like.default", x, values=False, **kwargs)
    check_op(kiln, backend, "aten::full_like.default", x, 2.5)


def test_like_ops_keep_channels_last(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((2, 3, 4, 5), torch.float32, seed=2).to(memory_format=torch.channels_last)
    for t in (x, x[:, :, 1:]):
        check_op(kiln, backend, "aten::ones_like.default", t)
        check_op(kiln, backend, "aten::empty_like.default", t, values=False)
        check_op(kiln, backend, "aten::zeros_like.default", t, memory_format=torch.channels_last)
    check_op(kiln, backend, "aten::full_like.default", x.contiguous(), 1.0, memory_format=torch.channels_last)


def _positions(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(-1)
    scale = torch.full((1, x.shape[1]), 0.5)
    return x + pos * scale + torch.zeros_like(x) + torch.ones(n, 1)


def test_traced_creation(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((5, 3), torch.float32, layout="transposed", seed=3)
    graph = export_graph(make_fx(_positions)(x), [x])
    assert {"aten::arange.default", "aten::full.default", "aten::zeros_like.default",
            "aten::ones.default"} <= set(targets(graph)), targets(graph)  # fmt: skip
    check_graph(kiln, graph, [x], backend=backend)


def test_symbolic_creation(kiln: KilnRun, backend: str) -> None:
    # (torch 1.13's symbolic arange declares float32 without a dtype, though
    # eager gives int64: the dtypes are explicit here.)
    gm = make_fx(
        lambda x: (
            torch.arange(x.shape[0], dtype=torch.int64),
            torch.full((x.shape[0], 2), 1.5),
            torch.zeros_like(x),
        ),
        tracing_mode="symbolic",
    )(torch.randn(6, 4))
    graph = export_graph(gm)
    for rows in (1, 3, 8):
        x = make_tensor((rows, 4), torch.float32, seed=rows)
        check_graph(kiln, graph, [x], backend=backend)
