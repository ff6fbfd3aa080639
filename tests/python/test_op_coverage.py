"""Every op kiln-run registers, against PyTorch eager, per dtype and backend.

The ops come from the driver (``kiln-run --list_ops``), so an op another
engineer registers is tested from the next run on; its cases come from
PyTorch's OpInfo samples (see op_cases.py): one-node graphs in every dtype
ATen allows, with layout variants (transposed, strided, offset) and, for
pointwise ops, broadcasting, size-0, size-1 and 0-dim operands.

A case passes when kiln-run's outputs have eager's dtype, shape and strides
(dims of size > 1) and values within torch_oracle's per-dtype tolerances
(exact for integers and bools, NaNs in the same places). float16/bfloat16
results may instead match the same op computed in float32 and rounded once
(:func:`op_cases.opmath_expected`), which is what ATen's CUDA kernels and
Kiln compute; ATen's CPU kernels sometimes round in between.

Failures that are known go on :data:`EXPECTED_FAILURES`, each with its
reason; an op whose failing cases are all expected is reported as xfail, and
an entry that no longer matches any failure makes the test fail, so the list
stays true. The op x dtype table is written to test-results/op_coverage.md.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
import torch

from conftest import kiln_driver
from kiln_harness import KilnRun, KilnRunError, compare_mutations, compare_outputs, eager_outputs
from op_cases import (
    CoverageReport,
    DtypeResult,
    OpCase,
    candidate_dtypes,
    cases_for,
    dtype_name,
    has_sources,
    opmath_expected,
)

# The ops issue 3 asks for (overloads as PyTorch prints them), by family.
ISSUE_OPS: Dict[str, List[str]] = {
    "pointwise": [
        f"aten::{name}.default"
        for name in (
            "abs neg reciprocal exp exp2 expm1 log log2 log1p sqrt rsqrt sin cos tan asin acos atan sinh "
            "cosh tanh sigmoid relu gelu silu erf floor ceil trunc sign logical_not bitwise_not isnan "
            "clamp clamp_min clamp_max leaky_relu hardtanh maximum minimum atan2 logical_and logical_or"
        ).split()
    ]
    + ["aten::round.default", "aten::round.decimals", "aten::clamp.Tensor", "aten::clamp_min.Tensor"]
    + ["aten::clamp_max.Tensor", "aten::div.Tensor_mode", "aten::div.Scalar_mode"]
    + [f"aten::{name}.{o}" for name in ("add", "sub", "rsub", "mul", "div") for o in ("Tensor", "Scalar")]
    + ["aten::pow.Tensor_Tensor", "aten::pow.Tensor_Scalar", "aten::pow.Scalar"]
    + [f"aten::{name}.{o}" for name in ("fmod", "eq", "ne", "lt", "le", "gt", "ge") for o in ("Tensor", "Scalar")]
    + ["aten::remainder.Tensor", "aten::remainder.Scalar", "aten::remainder.Scalar_Tensor"]
    + [f"aten::bitwise_{n}.{o}" for n in ("and", "or", "xor") for o in ("Tensor", "Scalar", "Scalar_Tensor")]
    + ["aten::where.self", "aten::where.ScalarSelf", "aten::where.ScalarOther", "aten::where.Scalar"]
    + ["aten::masked_fill.Scalar", "aten::masked_fill.Tensor"],
    "reductions": [
        "aten::sum.default", "aten::sum.dim_IntList", "aten::mean.default", "aten::mean.dim",
        "aten::amax.default", "aten::amin.default", "aten::max.dim", "aten::min.dim", "aten::max.default",
        "aten::min.default", "aten::argmax.default", "aten::argmin.default", "aten::prod.default",
        "aten::prod.dim_int", "aten::var.correction", "aten::std.correction", "aten::any.default",
        "aten::any.dim", "aten::all.default", "aten::all.dim",
    ],
    "normalization and softmax": [
        "aten::_softmax.default", "aten::_log_softmax.default", "aten::_softmax_backward_data.default",
        "aten::_log_softmax_backward_data.default", "aten::native_layer_norm.default",
        "aten::native_layer_norm_backward.default",
    ],
    "matrix": ["aten::mm.default", "aten::bmm.default", "aten::addmm.default", "aten::baddbmm.default"],
    "views and layout": [
        "aten::view.default", "aten::_unsafe_view.default", "aten::reshape.default", "aten::permute.default",
        "aten::transpose.int", "aten::t.default", "aten::unsqueeze.default", "aten::squeeze.default",
        "aten::squeeze.dim", "aten::expand.default", "aten::slice.Tensor", "aten::select.int",
        "aten::alias.default", "aten::clone.default", "aten::_to_copy.default", "aten::contiguous.default",
        "aten::as_strided.default",
    ],
    "creation": [
        "aten::full.default", "aten::zeros.default", "aten::ones.default", "aten::empty.memory_format",
        "aten::scalar_tensor.default", "aten::arange.default", "aten::arange.start", "aten::arange.start_step",
        "aten::full_like.default", "aten::zeros_like.default", "aten::ones_like.default",
        "aten::empty_like.default",
    ],
    "data movement": [
        "aten::cat.default", "aten::split_with_sizes.default", "aten::index_select.default",
        "aten::gather.default", "aten::embedding.default", "aten::embedding_dense_backward.default",
        "aten::constant_pad_nd.default",
    ],
    "training": [
        "aten::threshold_backward.default", "aten::sigmoid_backward.default", "aten::tanh_backward.default",
        "aten::gelu_backward.default",
    ],
    "mutation": ["aten::copy_.default"],
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Expected:
    """A known failure: cases of ``op`` in dtypes matching ``dtypes`` (a
    regex) whose failure message matches ``match`` (a regex), on backends
    matching ``backends``."""

    op: str
    dtypes: str
    match: str
    reason: str
    backends: str = ".*"

    def applies(self, op: str, backend: str) -> bool:
        return self.op == op and re.fullmatch(self.backends, backend) is not None

    def covers(self, dtype: str, message: str) -> bool:
        return re.fullmatch(self.dtypes, dtype) is not None and re.search(self.match, message) is not None


def _expect(ops: Sequence[str], dtypes: str, match: str, reason: str, backends: str = ".*") -> List[Expected]:
    return [Expected(op, dtypes, match, reason, backends) for op in ops]


INTS = "uint8|int8|int16|int32|int64"
TORCH_1 = torch.__version__.startswith("1.")

#: Known differences between kiln-run and eager, with the reason. Keep it
#: short-lived: fix the op, then delete the entry (a stale entry fails).
EXPECTED_FAILURES: List[Expected] = [
    # x / 1.2e-38 overflows bfloat16: ATen's CPU kernels compute floor
    # division and fmod as a - trunc(a/b)*b and get NaN (in float32 too);
    # Kiln gives +-inf / -0.0.
    *_expect(
        [
            "aten::div.Tensor_mode", "aten::floor_divide.default", "aten::floor_divide.Scalar",
            "aten::fmod.Tensor", "aten::fmod.Scalar", "aten::remainder.Tensor", "aten::remainder.Scalar",
        ],
        "bfloat16", r"vs expected nan", "overflowing quotient: ATen gives NaN",
    ),
    # native_layer_norm_backward's mean and rstd come from the forward and are
    # contiguous in every autograd graph; ATen's kernels (1.13 and 2.x, CPU
    # and CUDA) read them as contiguous memory whatever their strides, Kiln
    # reads their values.
    *_expect(
        ["aten::native_layer_norm_backward.default"], ".*", r"\+strided",
        "ATen ignores the strides of mean and rstd",
    ),
    # torch 1.13 only. Its CPU _softmax_backward_data reads non-contiguous
    # grad/output as contiguous memory (PyTorch 2 is right; checked against
    # torch 2.11), so the eager reference is wrong for those layouts. It has
    # no float16 CPU layer norm either, and the meta function the harness
    # then takes the graph's types from gives CUDA's float32 mean/rstd, while
    # ATen's CPU kernels keep float16 (PyTorch 2.11 on the CPU).
    *(
        _expect(["aten::_softmax_backward_data.default"], ".*", r"\+(transposed|strided)",
                "torch 1.13's CPU softmax backward ignores strides")
        + _expect(["aten::native_layer_norm.default"], "float16", r"declared f32.* disagrees with inference f16",
                  "torch 1.13 meta function: CUDA's float32 statistics on the CPU")
        + _expect(["aten::native_layer_norm_backward.default"], "float16", r"expected mean of dtype f16, got f32",
                  "torch 1.13 meta function: CUDA's float32 statistics on the CPU")
        if TORCH_1 else []
    ),
]  # fmt: skip

# Tolerance scale (times torch_oracle's per-dtype defaults) by op: kernels
# that reassociate sums or use a different libm may differ by a few ulps.
# Matrix products sum K products in an order of their own (blocked, FMA),
# as PyTorch's own OpInfo tests allow with larger float32 tolerances.
TOLERANCE_SCALE: Dict[str, float] = {
    "aten::mm.default": 10.0, "aten::bmm.default": 10.0, "aten::addmm.default": 10.0,
    "aten::baddbmm.default": 10.0,
}  # fmt: skip

# Ops whose values are unspecified (uninitialized memory): only dtype, shape
# and strides are compared.
VALUES_UNSPECIFIED = {
    "aten::empty.memory_format", "aten::empty_like.default", "aten::empty.default", "aten::empty_strided.default",
}  # fmt: skip

NOT_BUILT = "<kiln-run is not built>"

#: Cases per op on backends other than the interpreter, beyond one per
#: dtype. Those compile every distinct kernel (the CPU backend: ~0.1 s each,
#: plus ~2 s per compile), so they get each dtype's first case and a few of
#: the layout/shape/scalar variants in turn, while the interpreter, the
#: oracle the passes are checked against, runs them all. KILN_OP_CASES=all
#: (or a number of extra cases) overrides it for every backend.
EXTRA_CASES_PER_OP_COMPILED = 3
#: Cases merged into one kiln-run graph (one compile).
MAX_MERGE = 512


def _registered() -> Dict[str, str]:
    driver = kiln_driver()
    if not driver.available():
        return {}
    return {name: op.category for name, op in driver.ops().items()}


def _ops_under_test() -> List[str]:
    return sorted(_registered()) or [NOT_BUILT]


@dataclasses.dataclass
class _Prepared:
    dtype: str
    case: OpCase
    expected: Any  # eager outputs, or the oracle's exception
    alternative: Optional[List[Any]]


@functools.lru_cache(maxsize=None)
def _prepared(op: str, pointwise: bool) -> Tuple[_Prepared, ...]:
    """The op's cases with their eager results (shared by every backend)."""
    out = []
    for dtype in candidate_dtypes(op):
        for case in cases_for(op, dtype, pointwise=pointwise):
            try:
                expected: Any = eager_outputs(case.graph, case.inputs)
            except Exception as err:  # noqa: BLE001 - reported as a harness failure
                expected = err
            alternative = opmath_expected(case, expected) if isinstance(expected, list) else None
            out.append(_Prepared(dtype_name(dtype), case, expected, alternative))
    return tuple(out)


def _failure(op: str, prepared: _Prepared, result: Any) -> Optional[str]:
    """None if the case passes, else what went wrong."""
    where = prepared.case.describe()
    if isinstance(prepared.expected, Exception):
        return f"{where}: the PyTorch oracle failed: {prepared.expected}"
    if isinstance(result, KilnRunError):
        return f"{where}: kiln-run: {result}"
    options = dict(scale=TOLERANCE_SCALE.get(op, 1.0), values=op not in VALUES_UNSPECIFIED)
    mismatch = compare_outputs(result, prepared.expected, **options)
    if mismatch is not None and prepared.alternative is not None:
        if compare_outputs(result, prepared.alternative, **options) is None:
            mismatch = None
        else:
            mismatch += " (float32-opmath reference differs too)"
    if mismatch is None:
        mismatch = compare_mutations(result.mutations, prepared.expected.mutations, prepared.case.inputs, **options)
    return None if mismatch is None else f"{where}: {mismatch}"


def _budget(backend: str) -> Optional[int]:
    """Cases per op on ``backend`` beyond one per dtype (None: all)."""
    setting = os.environ.get("KILN_OP_CASES")
    if setting:
        return None if setting == "all" else int(setting)
    return None if backend == "interpreter" else EXTRA_CASES_PER_OP_COMPILED


def _selected(prepared: Sequence[_Prepared], extra: Optional[int], start: int = 0) -> List[_Prepared]:
    """Each dtype's first case and ``extra`` more, round-robin over the
    dtypes from the ``start``-th (ops take turns), each dtype's remaining
    cases rotated by its position so that different dtypes contribute
    different variants (None: every case)."""
    by_dtype: Dict[str, List[_Prepared]] = {}
    for p in prepared:
        by_dtype.setdefault(p.dtype, []).append(p)
    if extra is None or len(prepared) <= len(by_dtype) + extra:
        return list(prepared)
    budget = len(by_dtype) + extra
    queues = []
    for i, cases in enumerate(by_dtype.values()):
        rest = cases[1:]
        k = i % len(rest) if rest else 0
        queues.append(cases[:1] + rest[k:] + rest[:k])
    start %= len(queues)
    queues = queues[start:] + queues[:start]
    out: List[_Prepared] = []
    for round_ in range(max(len(q) for q in queues)):
        for q in queues:
            if round_ < len(q) and len(out) < budget:
                out.append(q[round_])
    return out


# (backend, op) -> (selected cases, kiln-run results), filled for every op
# of the session at once: one kiln-run graph holds up to MAX_MERGE cases of
# many ops, so a compiling backend pays its start-up cost a few times, not
# once per op.
_RESULTS: Dict[Tuple[str, str], Tuple[List[_Prepared], List[Any]]] = {}


#: Overloads ATen implements for CUDA tensors only (PyTorch 2's float32
#: results of float16/bfloat16 products): no CPU eager reference.
CUDA_ONLY = {"aten::mm.dtype", "aten::bmm.dtype", "aten::addmm.dtype", "aten::baddbmm.dtype"}


def _testable(op: str) -> bool:
    return _in_this_torch(op) and op not in CUDA_ONLY and has_sources(op)


def _run_ops(kiln: KilnRun, backend: str, ops: Sequence[str]) -> None:
    jobs, owners = [], []
    for op in ops:
        if (backend, op) in _RESULTS or not _testable(op):
            continue
        try:
            prepared = _prepared(op, kiln.ops()[op].category == "pointwise")
            selected = _selected(prepared, _budget(backend), start=zlib.crc32(op.encode()))
        except Exception:  # noqa: BLE001 - the op's own test reports it
            continue
        _RESULTS[(backend, op)] = (selected, [])
        for p in selected:
            jobs.append((p.case.graph, p.case.inputs))
            owners.append(op)
    for op, result in zip(owners, kiln.run_many(jobs, backend=backend, max_merge=MAX_MERGE)):
        _RESULTS[(backend, op)][1].append(result)


def _session_ops(request: pytest.FixtureRequest, backend: str) -> List[str]:
    """The ops whose test_op_matches_eager runs on ``backend`` this session."""
    ops = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if getattr(item, "originalname", None) == "test_op_matches_eager" and params.get("backend") == backend:
            ops.append(params["op"])
    return ops


def _in_this_torch(op: str) -> bool:
    from kiln.fx_import import GraphImportError, resolve_target

    try:
        resolve_target(op)
    except GraphImportError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def _report_ops(op_coverage: CoverageReport) -> None:
    op_coverage.issue_ops = ISSUE_OPS
    op_coverage.registered = _registered()


@pytest.mark.parametrize("op", _ops_under_test())
def test_op_matches_eager(
    op: str, backend: str, kiln: KilnRun, op_coverage: CoverageReport, request: pytest.FixtureRequest
) -> None:
    if op == NOT_BUILT:
        pytest.fail(f"{kiln.binary} is not built; no op list")
    if "::" in op and not op.startswith(("aten::", "prims::")):
        pytest.skip(f"{op} is Kiln's own op (not ATen): no eager reference; the compiler's tests cover it")
    if not _in_this_torch(op):
        pytest.xfail(f"{op} is not in torch {torch.__version__} (a PyTorch 2 overload); compiler/ops tests cover it")
    if op in CUDA_ONLY:
        pytest.xfail(f"{op} exists for CUDA tensors only (no CPU eager reference); compiler/ops tests cover it")
    if not has_sources(op):
        pytest.fail(
            f"{op}: no PyTorch sample reaches this op; add it to MANUAL_SAMPLES in tests/python/op_cases.py "
            "(or regenerate opinfo_index.json if an OpInfo covers it)"
        )
    if not _prepared(op, kiln.ops()[op].category == "pointwise"):
        pytest.fail(f"{op}: its samples give no case eager PyTorch accepts")
    _run_ops(kiln, backend, _session_ops(request, backend) or [op])
    _run_ops(kiln, backend, [op])
    prepared, results = _RESULTS[(backend, op)]
    expectations = [e for e in EXPECTED_FAILURES if e.applies(op, backend)]
    used = set()
    per_dtype: Dict[str, DtypeResult] = {}
    unexpected: List[str] = []
    for p, result in zip(prepared, results):
        row = per_dtype.setdefault(p.dtype, DtypeResult("pass"))
        row.cases += 1
        failure = _failure(op, p, result)
        if failure is None:
            continue
        row.failed += 1
        known = next((e for e in expectations if e.covers(p.dtype, failure)), None)
        if known is None:
            if row.status != "FAIL":
                row.status, row.detail = "FAIL", failure
            unexpected.append(f"{p.dtype}: {failure}")
        else:
            used.add(known)
            if row.status == "pass":
                row.status, row.detail = "xfail", f"{failure} [{known.reason}]"
    op_coverage.record(backend, op, per_dtype)
    # With a budget, an expected failure may simply not be among the cases.
    complete = len(prepared) == len(_prepared(op, kiln.ops()[op].category == "pointwise"))
    stale = [e for e in expectations if e not in used] if complete else []
    problems = []
    if unexpected:
        problems.append(
            f"{len(unexpected)} of {len(prepared)} cases differ from eager; first per dtype:\n  "
            + "\n  ".join(f"{d}: {r.detail}" for d, r in per_dtype.items() if r.status == "FAIL")
        )
    if stale:
        problems.append(
            "expected failures that no longer happen (delete them from EXPECTED_FAILURES):\n  "
            + "\n  ".join(f"{e.dtypes} /{e.match}/: {e.reason}" for e in stale)
        )
    if problems:
        pytest.fail(f"{op} on {backend}: " + "\n".join(problems))
    xfailed = {d: r for d, r in per_dtype.items() if r.status == "xfail"}
    if xfailed:
        pytest.xfail("; ".join(f"{d}: {r.failed} of {r.cases} cases (expected: {r.detail})" for d, r in xfailed.items()))


@pytest.mark.parametrize("op", [op for ops in ISSUE_OPS.values() for op in ops])
def test_issue_op_is_registered(op: str, kiln: KilnRun) -> None:
    """Issue 3's op list against the registry; ops other engineers are
    still adding show as xfailed until they are registered."""
    if op not in kiln.ops():
        pytest.xfail(f"{op} is not registered in kiln-run yet")


def test_issue_op_list_names_real_overloads() -> None:
    from kiln.fx_import import resolve_target

    for ops in ISSUE_OPS.values():
        for op in ops:
            resolve_target(op)  # raises for a misspelled op or overload


def test_expected_failures_name_registered_ops(kiln: KilnRun) -> None:
    unknown = sorted({e.op for e in EXPECTED_FAILURES} - set(kiln.ops()))
    assert not unknown, f"EXPECTED_FAILURES names ops kiln-run does not register: {unknown}"
