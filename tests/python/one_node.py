"""One-node ``kiln.v1`` graphs for direct ATen calls, checked on kiln-run
against PyTorch eager (the ``test_ops_*.py`` family tests).

:func:`check_op` calls ``torch.ops.aten.<op>`` eagerly, builds the graph of
that one call (every tensor argument a placeholder with its exact layout,
the outputs declared with eager's metadata, so Kiln's inference must agree
with ATen's sizes, strides and offsets), runs it through kiln-run and
compares the outputs (dtype, shape, strides of dims > 1, values; storage
offsets too for views). :func:`check_refused` is the differential check of
errors: ATen raises, and kiln-run refuses the graph (or the run) with the
same message fragment. :func:`run_with_mutations` runs a graph with one
kiln-run call and also returns ``ExecuteResponse.mutations``.

The persistent driver is the shared harness's (:mod:`kiln_harness`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kiln import proto
from kiln.fx_export import op_target_name, tensor_meta
from kiln.fx_import import resolve_target
from kiln.tensors import clone_preserving_layout, from_proto_tensor
from kiln.torch_types import device_to_proto, dtype_to_proto, layout_to_proto, memory_format_to_proto
from kiln_harness import KilnRun, KilnRunError, compare_outputs, decode_outputs, encode_inputs, kiln_run_path

__all__ = [
    "DTYPES",
    "eager",
    "reference",
    "one_node_graph",
    "check_op",
    "check_ops",
    "check_refused",
    "run_with_mutations",
    "targets",
]

#: Every dtype Kiln compiles.
DTYPES = [
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
]  # fmt: skip


def _flatten(result: Any) -> List[Any]:
    if isinstance(result, (list, tuple)):
        out: List[Any] = []
        for r in result:
            out.extend(_flatten(r))
        return out
    return [result]


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return clone_preserving_layout(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def eager(target: str, args: Sequence[Any], kwargs: Optional[Dict[str, Any]] = None) -> List[Any]:
    """The flattened outputs of ``target`` called eagerly on copies of the
    arguments (same layouts)."""
    op = resolve_target(target)
    return _flatten(op(*_clone(list(args)), **_clone(dict(kwargs or {}))))


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _map(value: Any, fn: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return fn(value)


def _has_low_precision(value: Any) -> bool:
    found = []
    _map(value, lambda v: found.append(isinstance(v, torch.Tensor) and v.dtype in _LOW_PRECISION))
    return any(found)


def reference(target: str, args: Sequence[Any], kwargs: Optional[Dict[str, Any]] = None) -> List[Any]:
    """What Kiln must compute for a direct call: eager's outputs, except
    that with float16/bfloat16 operands the op runs on float32 copies (and
    float32 for float16/bfloat16 dtype arguments) and each result is rounded
    once to the dtype eager gives. That is ATen's "opmath" semantics, what
    its CUDA kernels and Kiln compute; torch 1.13's CPU kernels sometimes
    round intermediate steps, and lack many float16 kernels, in which case
    the result dtypes come from the op's meta function."""
    kwargs = dict(kwargs or {})
    if not _has_low_precision((list(args), kwargs)):
        return eager(target, args, kwargs)
    op = resolve_target(target)
    try:
        dtypes = [o.dtype if isinstance(o, torch.Tensor) else None for o in eager(target, args, kwargs)]
    except (RuntimeError, NotImplementedError):
        to_meta = lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v  # noqa: E731
        meta = _flatten(op(*_map(list(args), to_meta), **_map(kwargs, to_meta)))
        dtypes = [o.dtype if isinstance(o, torch.Tensor) else None for o in meta]

    def up(v: Any) -> Any:
        if isinstance(v, torch.Tensor) and v.dtype in _LOW_PRECISION:
            return clone_preserving_layout(v).float()
        return torch.float32 if isinstance(v, torch.dtype) and v in _LOW_PRECISION else v

    result = _flatten(op(*_map(list(args), up), **_map(kwargs, up)))
    return [r.to(d) if isinstance(r, torch.Tensor) and d is not None else r for r, d in zip(result, dtypes)]


class _Builder:
    def __init__(self) -> None:
        self.graph = proto.Graph()
        self.inputs: List[torch.Tensor] = []

    def tensor(self, t: torch.Tensor) -> "proto.Argument":
        name = f"x{len(self.inputs)}"
        self.graph.placeholders.add(name=name, tensor=tensor_meta(t))
        self.inputs.append(t)
        return proto.Argument(ref=proto.ValueRef(node=name, output_index=0))

    def argument(self, value: Any) -> "proto.Argument":
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if value is None:
            return proto.Argument(none=proto.NoneValue())
        if isinstance(value, bool):
            return proto.Argument(bool_value=value)
        if isinstance(value, int):
            return proto.Argument(int_value=value)
        if isinstance(value, float):
            return proto.Argument(float_value=value)
        if isinstance(value, str):
            return proto.Argument(string_value=value)
        if isinstance(value, torch.dtype):
            return proto.Argument(dtype=dtype_to_proto(value))
        if isinstance(value, torch.device):
            return proto.Argument(device=device_to_proto(value))
        if isinstance(value, torch.memory_format):
            return proto.Argument(memory_format=memory_format_to_proto(value))
        if isinstance(value, torch.layout):
            return proto.Argument(layout=layout_to_proto(value))
        if isinstance(value, (list, tuple)):
            if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return proto.Argument(ints=proto.IntList(values=list(value)))
            if all(isinstance(v, bool) for v in value):
                return proto.Argument(bools=proto.BoolList(values=list(value)))
            if all(isinstance(v, float) for v in value):
                return proto.Argument(floats=proto.FloatList(values=list(value)))
            return proto.Argument(list=proto.ArgumentList(values=[self.argument(v) for v in value]))
        raise TypeError(f"cannot encode {value!r}")


def one_node_graph(
    target: str,
    args: Sequence[Any],
    kwargs: Optional[Dict[str, Any]] = None,
    outputs: Optional[Sequence[Any]] = None,
) -> Tuple["proto.Graph", List[torch.Tensor]]:
    """The graph ``%r = target(args, kwargs)`` returning every output, and
    its inputs (the tensors among the arguments, in order). ``outputs``
    gives the declared metadata (eager's results); without it one dummy
    float32 scalar is declared (for graphs Kiln must refuse)."""
    b = _Builder()
    node = proto.Node(name="r", target=target)
    for a in args:
        node.args.append(b.argument(a))
    for k, v in (kwargs or {}).items():
        node.kwargs.add(name=k, value=b.argument(v))
    declared = list(outputs) if outputs is not None else [torch.zeros(())]
    for i, o in enumerate(declared):
        if o is None:
            # A None result (native_layer_norm_backward's masked gradients)
            # is returned as None: graph outputs cannot reference it.
            node.outputs.add(none=proto.NoneValue())
            b.graph.outputs.append(proto.Argument(none=proto.NoneValue()))
        else:
            node.outputs.add(tensor=tensor_meta(o))
            b.graph.outputs.append(proto.Argument(ref=proto.ValueRef(node="r", output_index=i)))
    b.graph.nodes.append(node)
    return b.graph, b.inputs


def check_op(
    kiln: KilnRun,
    backend: str,
    target: Any,
    *args: Any,
    view: bool = False,
    values: bool = True,
    expected: Optional[Sequence[Any]] = None,
    scale: float = 1.0,
    opmath: bool = False,
    **kwargs: Any,
) -> List[Any]:
    """Runs ``target(*args, **kwargs)`` on kiln-run and asserts it matches
    eager (or ``expected``; with ``opmath``, :func:`reference`): dtype,
    shape, strides on dims of size > 1, values (unless ``values=False``),
    and for a ``view`` the storage offset. ``target`` is an op name
    (``"aten::sum.default"``) or an OpOverload. Returns kiln's outputs."""
    target = target if isinstance(target, str) else op_target_name(target)
    if expected is not None:
        want = list(expected)
    else:
        want = reference(target, args, kwargs) if opmath else eager(target, args, kwargs)
    graph, inputs = one_node_graph(target, args, kwargs, want)
    where = f"{target}{tuple(_describe(a) for a in args)} {kwargs or ''}"
    try:
        actual = kiln.run(graph, inputs, backend=backend)
    except KilnRunError as err:
        raise AssertionError(f"{where}: kiln-run refused what eager computes: {err}") from None
    mismatch = compare_outputs(actual, want, values=values, scale=scale)
    assert mismatch is None, f"{where}: {mismatch}"
    if view:
        for i, (a, e) in enumerate(zip(actual, want)):
            if e.numel() > 0:
                assert a.storage_offset() == e.storage_offset(), (
                    f"{where}: outputs[{i}] storage offset {a.storage_offset()}, expected {e.storage_offset()}"
                )
    return actual


#: One call for :func:`check_ops`: (target, args, kwargs).
Call = Tuple[Any, Sequence[Any], Dict[str, Any]]


def check_ops(
    kiln: KilnRun,
    backend: str,
    calls: Sequence[Call],
    *,
    opmath: bool = False,
    scale: float = 1.0,
    expected: Optional[Dict[int, Sequence[Any]]] = None,
) -> None:
    """:func:`check_op` for many calls at once: their one-node graphs run
    merged (``KilnRun.run_many``), so a compiling backend compiles a batch of
    them once instead of each. ``expected`` overrides the reference of the
    calls it indexes. Fails listing every call that differs (or that
    kiln-run refuses)."""
    jobs, wants, wheres = [], [], []
    for i, (target, args, kwargs) in enumerate(calls):
        target = target if isinstance(target, str) else op_target_name(target)
        if expected is not None and i in expected:
            want = list(expected[i])
        else:
            want = reference(target, args, kwargs) if opmath else eager(target, args, kwargs)
        jobs.append(one_node_graph(target, args, kwargs, want))
        wants.append(want)
        wheres.append(f"{target}{tuple(_describe(a) for a in args)} {kwargs or ''}")
    results = kiln.run_many(jobs, backend=backend)
    failures = []
    for where, want, result in zip(wheres, wants, results):
        if isinstance(result, KilnRunError):
            failures.append(f"{where}: kiln-run refused what eager computes: {result}")
            continue
        mismatch = compare_outputs(result, want, scale=scale)
        if mismatch is not None:
            failures.append(f"{where}: {mismatch}")
    assert not failures, f"{len(failures)} of {len(calls)} calls differ on {backend}:\n  " + "\n  ".join(failures[:20])


def _describe(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return f"{str(a.dtype).replace('torch.', '')}{list(a.shape)}{{{','.join(map(str, a.stride()))}}}"
    if isinstance(a, (list, tuple)):
        return [_describe(v) for v in a]
    return a


def check_refused(
    kiln: KilnRun,
    backend: str,
    target: str,
    *args: Any,
    message: str,
    declared: Optional[Sequence[Any]] = None,
    **kwargs: Any,
) -> KilnRunError:
    """Asserts that eager raises with ``message`` in its error and that
    kiln-run refuses the same call with ``message`` in its own (compared
    case-insensitively). ``declared`` are output metadata for a graph that
    converts and fails at run time (bad index values); by default the graph
    declares a dummy output, so conversion itself must fail."""
    where = f"{target}{tuple(_describe(a) for a in args)} {kwargs or ''}"
    try:
        eager(target, args, kwargs)
    except (RuntimeError, IndexError, ValueError) as err:
        assert message.lower() in str(err).lower(), f"{where}: eager raised {err!r}, not {message!r}"
    else:
        raise AssertionError(f"{where}: eager accepts it")
    graph, inputs = one_node_graph(target, args, kwargs, declared)
    try:
        kiln.run(graph, inputs, backend=backend)
    except KilnRunError as err:
        assert message.lower() in err.message.lower(), f"{where}: kiln-run said {err}, not {message!r}"
        return err
    raise AssertionError(f"{where}: kiln-run accepted what eager refuses ({message!r})")


def run_with_mutations(
    graph: "proto.Graph", inputs: Sequence[Any], *, backend: str = "interpreter"
) -> Tuple[List[Any], Dict[int, torch.Tensor]]:
    """Runs ``graph`` with one kiln-run process; returns its outputs and the
    new values of the inputs it mutated (``ExecuteResponse.mutations``, by
    input index)."""
    with tempfile.TemporaryDirectory(prefix="kiln-mut-") as tmp:
        paths = {name: os.path.join(tmp, name) for name in ("graph.pb", "inputs.pb", "outputs.pb")}
        with open(paths["graph.pb"], "wb") as f:
            f.write(graph.SerializeToString())
        with open(paths["inputs.pb"], "wb") as f:
            f.write(encode_inputs(inputs).SerializeToString())
        done = subprocess.run(
            [
                str(kiln_run_path()),
                f"--graph={paths['graph.pb']}",
                f"--inputs={paths['inputs.pb']}",
                f"--outputs={paths['outputs.pb']}",
                f"--backend={backend}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise KilnRunError("FAILED", done.stderr.strip())
        response = proto.ExecuteResponse()
        with open(paths["outputs.pb"], "rb") as f:
            response.ParseFromString(f.read())
    mutations = {m.input_index: from_proto_tensor(m.value) for m in response.mutations}
    assert len(mutations) == len(response.mutations), "an input is reported twice"
    assert [m.input_index for m in response.mutations] == sorted(mutations), "mutations out of order"
    return decode_outputs(response), mutations


def targets(graph: "proto.Graph") -> List[str]:
    """The node targets of a graph, in order."""
    return [n.target for n in graph.nodes]
