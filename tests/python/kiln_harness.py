"""Differential testing of Kiln against PyTorch eager, through ``kiln-run``.

The C++ driver (``compiler/tools/kiln-run``, built by Bazel) runs a
``kiln.v1.Graph`` on concrete inputs with a chosen backend; the PyTorch oracle
(:mod:`kiln.testing.torch_oracle`) evaluates the same graph with ATen eager.
This module connects the two::

    kiln = KilnRun()                        # $KILN_BIN_DIR/compiler/tools/kiln-run
    kiln.backends()                         # what the driver offers, e.g. ["interpreter"]
    kiln.ops()                              # the op registry, name -> RegisteredOp
    outputs = kiln.run(graph, inputs, backend="interpreter")
    check_graph(kiln, graph, inputs, backend="interpreter")   # vs eager

One ``kiln-run --batch`` process per :class:`KilnRun` serves every run (the
graph, inputs and outputs travel as files in a private temporary directory);
it is restarted after a crash, which is reported as a :class:`KilnRunError`
with code ``CRASHED``. :meth:`KilnRun.run_many` merges many small graphs into
one (placeholders, constants and nodes renamed per graph) so that a backend
that compiles each graph pays its compile cost once per batch; a batch that
fails is bisected, so every graph still gets its own result or error.

Inputs are tensors (sent with their exact strides and storage offset), ints
(SymInt or int placeholders), floats, bools, strings and None. Outputs come
back as tensors with the strides and storage offset the backend produced,
in an :class:`Outputs` list whose ``mutations`` hold the new values of the
inputs the graph mutated (``aten::copy_`` into a placeholder).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import select
import subprocess
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from kiln import proto
from kiln.tensors import clone_preserving_layout, from_proto_tensor, to_proto_tensor
from kiln.testing.torch_oracle import TorchOracle, assert_close

__all__ = [
    "ROOT",
    "KilnRunError",
    "RegisteredOp",
    "KilnRun",
    "kiln_run_path",
    "Outputs",
    "encode_inputs",
    "decode_outputs",
    "eager_outputs",
    "compare_mutations",
    "is_mergeable",
    "merge_graphs",
    "compare_outputs",
    "check_graph",
]

ROOT = pathlib.Path(__file__).resolve().parents[2]

Job = Tuple["proto.Graph", Sequence[Any]]
Result = Union[List[Any], "KilnRunError"]


def kiln_run_path() -> pathlib.Path:
    """``$KILN_BIN_DIR/compiler/tools/kiln-run``; KILN_BIN_DIR defaults to
    the repository's ``bazel-bin``."""
    bin_dir = pathlib.Path(os.environ.get("KILN_BIN_DIR", ROOT / "bazel-bin"))
    return bin_dir / "compiler" / "tools" / "kiln-run"


class KilnRunError(RuntimeError):
    """kiln-run refused a graph or failed to run it.

    ``code`` is the absl status code name kiln-run printed
    (``INVALID_ARGUMENT``, ``UNIMPLEMENTED``, ...), or ``CRASHED`` when the
    process died and ``DEADLINE_EXCEEDED`` when it did not answer in time.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclasses.dataclass(frozen=True)
class RegisteredOp:
    """One line of ``kiln-run --list_ops``."""

    name: str  # "aten::add.Tensor"
    category: str  # "pointwise", "reduction", ...
    schema: str  # PyTorch's schema string

    @property
    def packet(self) -> str:
        """``"add"`` for ``aten::add.Tensor``."""
        return self.name.split("::", 1)[1].split(".", 1)[0]

    @property
    def overload(self) -> str:
        return self.name.split(".", 1)[1]


# -- wire values ----------------------------------------------------------------


def encode_inputs(inputs: Sequence[Any]) -> "proto.ExecuteRequest":
    """An ExecuteRequest whose ``inputs`` hold ``inputs`` (tensors inline)."""
    request = proto.ExecuteRequest()
    for i, value in enumerate(inputs):
        item = request.inputs.add()
        if isinstance(value, torch.Tensor):
            item.tensor.CopyFrom(to_proto_tensor(value.detach()))
        elif value is None:
            item.none.SetInParent()
        elif isinstance(value, bool):
            item.bool_value = value
        elif isinstance(value, int):
            item.int_value = value
        elif isinstance(value, float):
            item.float_value = value
        elif isinstance(value, str):
            item.string_value = value
        else:
            raise TypeError(f"inputs[{i}]: cannot send a {type(value).__name__}")
    return request


class Outputs(list):
    """A graph's outputs (a list, one value per graph output) and, in
    ``mutations``, the new values of the inputs the graph mutated
    (``aten::copy_`` into a placeholder), by input index."""

    def __init__(self, values: Iterable[Any] = (), mutations: Optional[Dict[int, torch.Tensor]] = None) -> None:
        super().__init__(values)
        self.mutations: Dict[int, torch.Tensor] = dict(mutations or {})


def decode_outputs(response: "proto.ExecuteResponse") -> Outputs:
    """The Python values of an ExecuteResponse's outputs and mutations."""
    values: List[Any] = []
    for out in response.outputs:
        kind = out.WhichOneof("value")
        if kind == "tensor":
            values.append(from_proto_tensor(out.tensor))
        elif kind == "none" or kind is None:
            values.append(None)
        else:
            values.append(getattr(out, kind))
    return Outputs(values, {m.input_index: from_proto_tensor(m.value) for m in response.mutations})


# -- the driver -----------------------------------------------------------------


def _scratch_parent() -> Optional[str]:
    """/dev/shm when usable: every run writes three small files, and on a
    disk-backed /tmp opening a file can cost milliseconds."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


class KilnRun:
    """A ``kiln-run`` driver: introspection and a persistent batch process.

    Not thread-safe (one process, one scratch directory); tests share one
    per session. ``timeout`` bounds each run in seconds.
    """

    def __init__(self, binary: Optional[Union[str, os.PathLike]] = None, *, timeout: float = 300.0) -> None:
        self.binary = pathlib.Path(binary) if binary is not None else kiln_run_path()
        self.timeout = timeout
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Any = None
        self._tmp = tempfile.TemporaryDirectory(prefix="kiln-run-", dir=_scratch_parent())
        self._backends: Optional[List[str]] = None
        self._ops: Optional[Dict[str, RegisteredOp]] = None
        self.runs = 0  # kiln-run invocations (batch lines), for statistics

    # -- introspection --

    def available(self) -> bool:
        return self.binary.is_file() and os.access(self.binary, os.X_OK)

    def _check_available(self) -> None:
        if not self.available():
            raise FileNotFoundError(
                f"{self.binary} is not built; run `bazel build //compiler/tools:kiln-run` "
                "and point KILN_BIN_DIR at that bazel-bin"
            )

    def _list(self, flag: str) -> List[str]:
        self._check_available()
        done = subprocess.run([str(self.binary), flag], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise KilnRunError("FAILED", f"kiln-run {flag} exited with {done.returncode}: {done.stderr.strip()}")
        return [line for line in done.stdout.splitlines() if line.strip()]

    def backends(self) -> List[str]:
        """The backends ``--backend`` accepts (``kiln-run --list_backends``)."""
        if self._backends is None:
            self._backends = self._list("--list_backends")
        return list(self._backends)

    def ops(self) -> Dict[str, RegisteredOp]:
        """The op registry (``kiln-run --list_ops``), by full name."""
        if self._ops is None:
            ops = {}
            for line in self._list("--list_ops"):
                name, category, schema = line.split("\t", 2)
                ops[name] = RegisteredOp(name, category, schema)
            self._ops = ops
        return dict(self._ops)

    # -- the batch process --

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._check_available()
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile(dir=self._tmp.name)
        self._proc = subprocess.Popen(
            [str(self.binary), "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        return self._proc

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return text[-limit:].strip()

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None

    def close(self) -> None:
        """Ends the batch process and removes the scratch directory."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._tmp.cleanup()

    def __enter__(self) -> "KilnRun":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _answer(self, line: str) -> str:
        proc = self._start()
        self.runs += 1
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # reported below as a crash
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self._kill()
            raise KilnRunError("DEADLINE_EXCEEDED", f"kiln-run did not answer within {self.timeout:g} s")
        answer = proc.stdout.readline().decode(errors="replace").rstrip("\n")
        if not answer:
            rc = proc.wait()
            tail = self._stderr_tail()
            self._kill()
            how = f"killed by signal {-rc}" if rc < 0 else f"exited with {rc}"
            raise KilnRunError("CRASHED", f"kiln-run {how}" + (f": {tail}" if tail else ""))
        return answer

    def run(self, graph: "proto.Graph", inputs: Sequence[Any], *, backend: str = "interpreter") -> Outputs:
        """Runs ``graph`` on ``inputs``; returns its outputs (with the
        mutated inputs' new values in ``.mutations``) or raises
        :class:`KilnRunError` with kiln-run's status code and message."""
        tmp = self._tmp.name
        graph_path = os.path.join(tmp, "graph.pb")
        inputs_path = os.path.join(tmp, "inputs.pb")
        outputs_path = os.path.join(tmp, "outputs.pb")
        with open(graph_path, "wb") as f:
            f.write(graph.SerializeToString(deterministic=True))
        with open(inputs_path, "wb") as f:
            f.write(encode_inputs(inputs).SerializeToString())
        if os.path.exists(outputs_path):
            os.unlink(outputs_path)
        answer = self._answer(
            f"--graph={graph_path} --inputs={inputs_path} --outputs={outputs_path} --backend={backend}"
        )
        if answer != "ok":
            body = answer[len("error ") :] if answer.startswith("error ") else answer
            code, _, message = body.partition(": ")
            raise KilnRunError(code, message)
        response = proto.ExecuteResponse()
        with open(outputs_path, "rb") as f:
            response.ParseFromString(f.read())
        return decode_outputs(response)

    def run_many(
        self, jobs: Sequence[Job], *, backend: str = "interpreter", merge: bool = True, max_merge: int = 64
    ) -> List[Result]:
        """Runs every (graph, inputs) job; returns, in order, each job's
        outputs or its :class:`KilnRunError`.

        With ``merge``, mergeable graphs (see :func:`is_mergeable`) run
        together, up to ``max_merge`` per kiln-run call. When a merged run
        fails, the job whose node or input the error names runs alone and
        the others together again; an error naming none (a crash) splits the
        batch in halves. Either way a job's error is always its own.
        """
        results: List[Optional[Result]] = [None] * len(jobs)
        groups: List[List[int]] = []
        current: List[int] = []
        for i, (graph, _) in enumerate(jobs):
            if merge and is_mergeable(graph):
                current.append(i)
                if len(current) == max_merge:
                    groups.append(current)
                    current = []
            else:
                groups.append([i])
        if current:
            groups.append(current)
        for group in groups:
            self._run_group(jobs, group, backend, results)
        return results  # type: ignore[return-value]

    def _run_group(self, jobs: Sequence[Job], group: List[int], backend: str, results: List[Optional[Result]]) -> None:
        if len(group) == 1:
            graph, inputs = jobs[group[0]]
            try:
                results[group[0]] = self.run(graph, inputs, backend=backend)
            except KilnRunError as err:
                results[group[0]] = err
            return
        merged, input_counts, output_counts = merge_graphs([jobs[i][0] for i in group])
        flat_inputs = [v for i in group for v in jobs[i][1]]
        try:
            outputs = self.run(merged, flat_inputs, backend=backend)
        except KilnRunError as err:
            culprit = _culprit(err, [len(jobs[i][0].nodes) for i in group], input_counts)
            if culprit is None or err.code == "CRASHED":
                half = len(group) // 2
                self._run_group(jobs, group[:half], backend, results)
                self._run_group(jobs, group[half:], backend, results)
            else:
                # The error names a node (or input) of one part: that part
                # runs alone for its own message, the rest together again
                # (cheaper than bisecting when compiling dominates).
                self._run_group(jobs, [group[culprit]], backend, results)
                rest = group[:culprit] + group[culprit + 1 :]
                if rest:
                    self._run_group(jobs, rest, backend, results)
            return
        start = first_input = 0
        for i, n, m in zip(group, output_counts, input_counts):
            mutations = {k - first_input: v for k, v in outputs.mutations.items() if first_input <= k < first_input + m}
            results[i] = Outputs(outputs[start : start + n], mutations)
            start += n
            first_input += m


_NODE_PATH = re.compile(r"(?:^|[^A-Za-z_])nodes\[(\d+)\]")
_INPUT_PATH = re.compile(r"(?:^|[^A-Za-z_])(?:inputs|placeholders)\[(\d+)\]")


def _culprit(err: KilnRunError, node_counts: Sequence[int], input_counts: Sequence[int]) -> Optional[int]:
    """Which part of a merged graph an error is about, from the node or
    input index in its message (``graph.nodes[12] (...)``), or None."""
    for pattern, counts in ((_NODE_PATH, node_counts), (_INPUT_PATH, input_counts)):
        match = pattern.search(err.message)
        if match is None:
            continue
        index = int(match.group(1))
        for part, n in enumerate(counts):
            if index < n:
                return part
            index -= n
    return None


# -- merging graphs ---------------------------------------------------------------


def _has_symbols(graph: "proto.Graph") -> bool:
    def dims(meta: "proto.TensorMeta") -> Iterable["proto.Dim"]:
        yield from meta.sizes
        yield from meta.strides
        if meta.HasField("storage_offset"):
            yield meta.storage_offset

    for p in graph.placeholders:
        kind = p.WhichOneof("kind")
        if kind == "symint" or (kind == "tensor" and any(d.WhichOneof("value") == "expr" for d in dims(p.tensor))):
            return True
    return False


def is_mergeable(graph: "proto.Graph") -> bool:
    """Whether :func:`merge_graphs` can take ``graph``: no symbolic sizes
    (symbol names would collide) and no scalar placeholders."""
    return not _has_symbols(graph) and all(p.WhichOneof("kind") == "tensor" for p in graph.placeholders)


def _rename_refs(arg: "proto.Argument", prefix: str) -> None:
    kind = arg.WhichOneof("value")
    if kind == "ref":
        arg.ref.node = prefix + arg.ref.node
    elif kind == "list":
        for v in arg.list.values:
            _rename_refs(v, prefix)


def merge_graphs(graphs: Sequence["proto.Graph"]) -> Tuple["proto.Graph", List[int], List[int]]:
    """One graph computing all of ``graphs`` side by side.

    Graph k's placeholders, constants and nodes are renamed ``g<k>_<name>``;
    the merged graph takes every graph's inputs in turn and returns every
    graph's outputs in turn. Returns it with the number of inputs and
    outputs of each part.
    """
    merged = proto.Graph()
    input_counts, output_counts = [], []
    for k, graph in enumerate(graphs):
        if not is_mergeable(graph):
            raise ValueError(f"graphs[{k}] has symbolic sizes or scalar inputs; run it alone")
        prefix = f"g{k}_"
        part = proto.Graph()
        part.CopyFrom(graph)
        for p in part.placeholders:
            p.name = prefix + p.name
        for c in part.constants:
            c.name = prefix + c.name
        for node in part.nodes:
            node.name = prefix + node.name
            for a in node.args:
                _rename_refs(a, prefix)
            for kw in node.kwargs:
                _rename_refs(kw.value, prefix)
        for out in part.outputs:
            _rename_refs(out, prefix)
        merged.placeholders.extend(part.placeholders)
        merged.constants.extend(part.constants)
        merged.nodes.extend(part.nodes)
        merged.outputs.extend(part.outputs)
        input_counts.append(len(part.placeholders))
        output_counts.append(len(part.outputs))
    merged.debug["producer"] = "kiln_harness.merge_graphs"
    return merged, input_counts, output_counts


# -- comparison -------------------------------------------------------------------


def _strides_differ(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Strides differ on a dim that matters (size > 1, tensor not empty)."""
    if expected.numel() <= 1 or actual.dim() != expected.dim():
        return False
    return any(a != e for a, e, n in zip(actual.stride(), expected.stride(), expected.shape) if n > 1)


def compare_outputs(
    actual: Sequence[Any],
    expected: Sequence[Any],
    *,
    scale: float = 1.0,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    check_strides: bool = True,
    values: bool = True,
) -> Optional[str]:
    """None when ``actual`` matches ``expected`` (torch_oracle's per-dtype
    tolerances times ``scale``, exact for integers and bools, NaNs in the
    same places; with ``check_strides``, the same strides on dims of size
    > 1), else a description of the first mismatch. ``values=False``
    compares only dtype, shape and strides (uninitialized results, e.g.
    ``aten::empty``)."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        name = f"outputs[{i}]"
        if isinstance(e, torch.Tensor) and isinstance(a, torch.Tensor):
            if a.dtype != e.dtype:
                return f"{name}: dtype {a.dtype}, expected {e.dtype}"
            if a.shape != e.shape:
                return f"{name}: shape {list(a.shape)}, expected {list(e.shape)}"
            if check_strides and _strides_differ(a, e):
                return f"{name}: strides {list(a.stride())}, expected {list(e.stride())} (sizes {list(e.shape)})"
            if not values:
                continue
        try:
            assert_close(a, e, scale=scale, rtol=rtol, atol=atol, name=name)
        except AssertionError as err:
            return str(err)
    return None


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and elements (NaN equal to NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def eager_outputs(graph: "proto.Graph", inputs: Sequence[Any]) -> Outputs:
    """The PyTorch oracle's outputs, with ``mutations`` holding the inputs
    whose values the graph changed (evaluated on copies of ``inputs``)."""
    copies = [clone_preserving_layout(v) if isinstance(v, torch.Tensor) else v for v in inputs]
    outputs = TorchOracle(clone_inputs=False).run(graph, copies)
    mutated = {
        i: after
        for i, (before, after) in enumerate(zip(inputs, copies))
        if isinstance(before, torch.Tensor) and not _same_values(before, after)
    }
    return Outputs(outputs, mutated)


def compare_mutations(
    actual: Dict[int, torch.Tensor],
    expected: Dict[int, torch.Tensor],
    inputs: Sequence[Any],
    **compare: Any,
) -> Optional[str]:
    """None when every input eager mutated is reported with eager's new
    value and every other reported input kept its value; else the first
    difference. ``compare`` goes to :func:`compare_outputs`."""
    for i in sorted(set(actual) | set(expected)):
        if i not in actual:
            return f"inputs[{i}]: eager mutates it, kiln-run reports no mutation"
        want = expected.get(i, inputs[i])
        mismatch = compare_outputs([actual[i]], [want], **compare)
        if mismatch is not None:
            return f"inputs[{i}] after the run: {mismatch.replace('outputs[0]: ', '')}"
    return None


def check_graph(
    kiln: KilnRun,
    graph: "proto.Graph",
    inputs: Sequence[Any],
    *,
    backend: str = "interpreter",
    expected: Optional[Sequence[Any]] = None,
    **compare: Any,
) -> Outputs:
    """Runs ``graph`` on kiln-run's ``backend`` and asserts that the outputs
    match ``expected`` (default: the PyTorch oracle's evaluation of the same
    graph and inputs, whose mutations of inputs must match too); ``compare``
    goes to :func:`compare_outputs`. Returns kiln's outputs."""
    if expected is None:
        expected = eager_outputs(graph, inputs)
    actual = kiln.run(graph, inputs, backend=backend)
    mismatch = compare_outputs(actual, expected, **compare)
    if mismatch is None and isinstance(expected, Outputs):
        mismatch = compare_mutations(actual.mutations, expected.mutations, inputs, **compare)
    if mismatch is not None:
        raise AssertionError(f"kiln-run --backend={backend} differs from PyTorch eager: {mismatch}")
    return actual
