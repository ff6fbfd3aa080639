"""Real torch graphs through a real kiln-server: export with make_fx and
kiln.fx_export, Compile and Execute over gRPC, compare with PyTorch eager.

Most cases run on the "interpreter" target, which compiles instantly; a few
run on "cpu" (each compile runs the host C++ compiler, about a second).
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time
from typing import Any, Dict, Iterator, List, Sequence

import grpc
import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from kiln import proto
from kiln.fx_export import export_graph, tensor_meta
from kiln.proto import services
from kiln.symbolic import constant
from kiln.tensors import clone_preserving_layout
from kiln.torch_types import dtype_to_proto
from kiln_harness import Outputs, decode_outputs, encode_inputs

try:  # torch >= 2.0
    from torch.func import functionalize
except ImportError:  # torch 1.13
    from functorch.experimental import functionalize

from conftest import SERVER_BIN

_MATMUL_PRECISION = {
    "highest": proto.GlobalState.HIGHEST,
    "high": proto.GlobalState.HIGH,
    "medium": proto.GlobalState.MEDIUM,
}


# -- guards and signatures, as a client builds them -------------------------------


def global_state() -> "proto.GlobalState":
    """The torch global state of this thread, as guards.proto describes it."""
    return proto.GlobalState(
        grad_mode=torch.is_grad_enabled(),
        torch_function=proto.GlobalState.ENABLED,
        autocast=[
            proto.AutocastState(
                device_type="cpu",
                enabled=torch.is_autocast_cpu_enabled(),
                dtype=dtype_to_proto(torch.get_autocast_cpu_dtype()),
            ),
            proto.AutocastState(
                device_type="cuda",
                enabled=torch.is_autocast_enabled(),
                dtype=dtype_to_proto(torch.get_autocast_gpu_dtype()),
            ),
        ],
        default_dtype=dtype_to_proto(torch.get_default_dtype()),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        fp32_matmul_precision=_MATMUL_PRECISION[torch.get_float32_matmul_precision()],
    )


def guards_for(graph: "proto.Graph", example_inputs: Sequence[Any]) -> "proto.GuardContext":
    """A GuardContext whose leaves are the graph's placeholders: each
    symbol a bare size binds is declared dynamic (min 2) with its example
    value as the hint."""
    context = proto.GuardContext(global_state=global_state())
    hints: Dict[str, int] = {}
    for placeholder, value in zip(graph.placeholders, example_inputs):
        kind = placeholder.WhichOneof("kind")
        if kind == "tensor":
            context.inputs.add().tensor.CopyFrom(proto.TensorGuard(type_name="torch.Tensor", meta=placeholder.tensor))
            for d, dim in enumerate(placeholder.tensor.sizes):
                if dim.WhichOneof("value") == "expr" and dim.expr.op == proto.SymExpr.SYMBOL:
                    hints.setdefault(dim.expr.symbol, int(value.shape[d]))
        elif kind == "symint":
            context.inputs.add().symint.expr.CopyFrom(placeholder.symint.expr)
            if placeholder.symint.expr.op == proto.SymExpr.SYMBOL:
                hints.setdefault(placeholder.symint.expr.symbol, int(value))
        else:
            raise AssertionError(f"no scalar placeholders in these tests: {placeholder}")
    for name in sorted(hints):
        context.symbols.add(name=name, hint=hints[name], min=2)
    return context


def signature_for(inputs: Sequence[Any]) -> "proto.CallSignature":
    """The CallSignature of a call with these plain tensors and ints."""
    signature = proto.CallSignature(global_state=global_state())
    for value in inputs:
        if isinstance(value, torch.Tensor):
            signature.inputs.add().tensor.CopyFrom(proto.TensorGuard(type_name="torch.Tensor", meta=tensor_meta(value)))
        else:
            signature.inputs.add().symint.expr.CopyFrom(constant(int(value)))
    return signature


# -- the server -------------------------------------------------------------------


class Server:
    """kiln-server on a free loopback port with a temp data dir and extra
    flags, stopped by close()."""

    def __init__(self, *flags: str) -> None:
        if not SERVER_BIN.exists():
            pytest.fail(f"{SERVER_BIN} is not built; run `bazel build //server:kiln-server`")
        self._tmp = tempfile.TemporaryDirectory()
        self.log_path = pathlib.Path(self._tmp.name) / "server.log"
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [str(SERVER_BIN), "--listen=127.0.0.1:0", f"--data-dir={self._tmp.name}/data", *flags],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 30
        self.address = ""
        while time.monotonic() < deadline and not self.address:
            match = re.search(r"serving on (\S+)", self.log_path.read_text())
            if match:
                self.address = match.group(1)
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if not self.address:
            self.close()
            raise RuntimeError(f"kiln-server did not start:\n{self.log_path.read_text()}")
        self.channel = grpc.insecure_channel(
            self.address,
            options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
        )
        self.stub = services.CompilerStub(self.channel)

    def log(self) -> str:
        return self.log_path.read_text()

    def close(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._tmp.cleanup()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


def compile_graph(
    server: Server, graph: "proto.Graph", example_inputs: Sequence[Any], backend: str
) -> "proto.CompileResponse":
    request = proto.CompileRequest(
        graph=graph,
        guards=guards_for(graph, example_inputs),
        target=proto.TargetSpec(backend=backend),
        client_id="test_server_execute",
    )
    return server.stub.Compile(request, timeout=300)


def execute_request(key: str, inputs: Sequence[Any]) -> "proto.ExecuteRequest":
    request = encode_inputs(inputs)
    request.artifact_key = key
    request.signature.CopyFrom(signature_for(inputs))
    return request


def execute(server: Server, key: str, inputs: Sequence[Any]) -> Outputs:
    return decode_outputs(server.stub.Execute(execute_request(key, inputs), timeout=60))


def eager(fn: Any, inputs: Sequence[Any]) -> tuple:
    """fn's outputs (a list) and its inputs after the call, on copies."""
    copies = [clone_preserving_layout(v) if isinstance(v, torch.Tensor) else v for v in inputs]
    result = fn(*copies)
    return (list(result) if isinstance(result, (list, tuple)) else [result]), copies


def assert_outputs(actual: Sequence[Any], expected: Sequence[Any]) -> None:
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"output {i}: {a.shape} vs {e.shape}"
        assert a.dtype == e.dtype, f"output {i}: {a.dtype} vs {e.dtype}"
        torch.testing.assert_close(a.detach(), e.detach(), rtol=1e-5, atol=1e-5, msg=f"output {i}")


# -- the cases --------------------------------------------------------------------


def _pointwise_and_reduction(x: torch.Tensor, y: torch.Tensor) -> tuple:
    z = torch.relu(x) * y + 1
    return z.sum(1), torch.softmax(z, dim=-1), (x - y).abs().amax()


@pytest.mark.parametrize("target", ["interpreter", "cpu"])
def test_pointwise_and_reductions_match_eager(server: Server, target: str) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(5, 7), torch.randn(5, 7)
    graph = export_graph(make_fx(_pointwise_and_reduction)(x, y), [x, y])
    compiled = compile_graph(server, graph, [x, y], target)
    assert not compiled.cache_hit
    assert compiled.target.startswith("interpreter" if target == "interpreter" else "cpu-")
    assert [o.kind for o in compiled.output_spec.outputs] == [proto.OutputInfo.TENSOR] * 3

    for seed in (1, 2):
        torch.manual_seed(seed)
        a, b = torch.randn(5, 7), torch.randn(5, 7)
        assert_outputs(execute(server, compiled.artifact_key, [a, b]), eager(_pointwise_and_reduction, [a, b])[0])
    again = compile_graph(server, graph, [x, y], target)
    assert again.cache_hit and again.artifact_key == compiled.artifact_key


@pytest.mark.parametrize("target", ["interpreter", "cpu"])
def test_linear_relu_module_matches_eager(server: Server, target: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())
    x = torch.randn(3, 8)
    with torch.no_grad():
        # Parameters are captured as tensor constants of the graph.
        gm = make_fx(model)(x)
        graph = export_graph(gm, [x])
        assert len(graph.constants) == 2
        compiled = compile_graph(server, graph, [x], target)
        for rows_seed in (1, 2):
            torch.manual_seed(rows_seed)
            batch = torch.randn(3, 8)
            assert_outputs(execute(server, compiled.artifact_key, [batch]), [model(batch)])


def test_linear_relu_with_parameters_as_inputs(server: Server) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 3)
    w, b = linear.weight.detach(), linear.bias.detach()
    fn = lambda x, w, b: torch.nn.functional.relu(torch.nn.functional.linear(x, w, b))  # noqa: E731
    x = torch.randn(4, 6)
    graph = export_graph(make_fx(fn)(x, w, b), [x, w, b])
    compiled = compile_graph(server, graph, [x, w, b], "interpreter")
    assert_outputs(execute(server, compiled.artifact_key, [x, w, b]), [fn(x, w, b)])
    # New weights, same artifact: values are inputs, not part of the key.
    w2 = torch.randn(3, 6)
    assert_outputs(execute(server, compiled.artifact_key, [x, w2, b]), [fn(x, w2, b)])


def _scaled_rows(x: torch.Tensor) -> tuple:
    return (torch.tanh(x) * x.shape[0], x.mean(0))


@pytest.mark.parametrize("target", ["interpreter", "cpu"])
def test_one_dynamic_compile_serves_every_batch_size(server: Server, target: str) -> None:
    example = torch.randn(6, 4)
    graph = export_graph(make_fx(_scaled_rows, tracing_mode="symbolic")(example))
    assert any(d.WhichOneof("value") == "expr" for d in graph.placeholders[0].tensor.sizes)
    compiled = compile_graph(server, graph, [example], target)
    for rows in (3, 11, 6):
        x = torch.randn(rows, 4)
        assert_outputs(execute(server, compiled.artifact_key, [x]), eager(_scaled_rows, [x])[0])
    assert server.log().count("compiled artifact") == 1

    # Lookup finds it without the graph; a size the guards refuse misses
    # with the guard named.
    lookup = proto.LookupRequest(
        graph_digest=compiled.graph_digest,
        target=proto.TargetSpec(backend=target),
        signature=signature_for([torch.randn(9, 4)]),
        explain=True,
    )
    found = server.stub.Lookup(lookup, timeout=10)
    assert found.WhichOneof("result") == "hit"
    assert found.hit.artifact_key == compiled.artifact_key
    lookup.signature.CopyFrom(signature_for([torch.randn(1, 4)]))
    missed = server.stub.Lookup(lookup, timeout=10)
    assert missed.WhichOneof("result") == "miss"
    assert missed.miss.explanations[0].first_failure.path.startswith("inputs[0].size(0)")


def _accumulate(acc: torch.Tensor, x: torch.Tensor) -> tuple:
    acc.add_(x)
    acc.mul_(2)
    return (x + 1,)


def test_input_mutations_come_back(server: Server) -> None:
    acc, x = torch.randn(3, 4), torch.randn(4)
    gm = make_fx(functionalize(_accumulate))(clone_preserving_layout(acc), x)
    graph = export_graph(gm, [clone_preserving_layout(acc), x])
    compiled = compile_graph(server, graph, [acc, x], "interpreter")
    assert [m.input_index for m in compiled.output_spec.mutated_inputs] == [0]
    outputs = execute(server, compiled.artifact_key, [acc, x])
    expected, after = eager(_accumulate, [acc, x])
    assert_outputs(outputs, expected)
    assert sorted(outputs.mutations) == [0]
    torch.testing.assert_close(outputs.mutations[0], after[0])


def test_guard_failure_names_the_guard(server: Server) -> None:
    x = torch.randn(3, 4)
    graph = export_graph(make_fx(lambda x: (x * 2,))(x), [x])
    compiled = compile_graph(server, graph, [x], "interpreter")
    with pytest.raises(grpc.RpcError) as info:
        execute(server, compiled.artifact_key, [torch.randn(3, 5)])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "inputs[0].size(1): expected 4, got 5" in info.value.details()
    trailers = dict(info.value.trailing_metadata())
    failure = proto.GuardFailure.FromString(trailers["kiln-guard-failure-bin"])
    assert failure.kind == proto.GuardFailure.SIZE
    assert failure.path == "inputs[0].size(1)"

    with torch.no_grad():
        with pytest.raises(grpc.RpcError) as info:
            execute(server, compiled.artifact_key, [x])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "global.grad_mode" in info.value.details()


def _chunks(data: bytes, size: int) -> List[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_execute_stream_from_python() -> None:
    # A 1 MiB message limit: the 1.5 MiB input and output must travel in
    # chunks both ways.
    server = Server("--max-message-bytes=1048576")
    try:
        caps = server.stub.Capabilities(proto.CapabilitiesRequest(), timeout=10)
        chunk = caps.limits.stream_chunk_bytes
        assert 0 < chunk < 1 << 20
        x = torch.randn(384, 1024)
        fn = lambda x: (torch.sigmoid(x) * 3,)  # noqa: E731
        graph = export_graph(make_fx(fn)(x), [x])
        compiled = compile_graph(server, graph, [x], "interpreter")

        request = execute_request(compiled.artifact_key, [x])
        data = request.inputs[0].tensor.raw
        request.inputs[0].tensor.ClearField("raw")
        request.inputs[0].tensor.chunked.byte_size = len(data)
        messages = [proto.ExecuteStreamRequest(header=request)]
        offset = 0
        for piece in _chunks(data, chunk):
            messages.append(
                proto.ExecuteStreamRequest(chunk=proto.TensorChunk(tensor_index=0, offset=offset, data=piece))
            )
            offset += len(piece)
        messages.append(proto.ExecuteStreamRequest(end=proto.StreamEnd()))
        replies = list(server.stub.ExecuteStream(iter(messages), timeout=60))

        assert replies[0].WhichOneof("kind") == "header"
        assert replies[-1].WhichOneof("kind") == "end"
        response = replies[0].header
        assert response.outputs[0].tensor.WhichOneof("data") == "chunked"
        received = b"".join(r.chunk.data for r in replies[1:-1] if r.chunk.tensor_index == 0)
        assert len(received) == response.outputs[0].tensor.chunked.byte_size
        response.outputs[0].tensor.raw = received
        assert_outputs(decode_outputs(response), fn(x))
    finally:
        server.close()


def test_bad_requests_keep_the_server_serving(server: Server) -> None:
    x = torch.randn(2, 3)
    good = compile_graph(server, export_graph(make_fx(lambda x: (x.exp(),))(x), [x]), [x], "interpreter")

    bad = proto.CompileRequest(
        graph=export_graph(make_fx(lambda x: (x.exp(),))(x), [x]),
        guards=guards_for(export_graph(make_fx(lambda x: (x.exp(),))(torch.randn(2, 4)), [torch.randn(2, 4)]), [x]),
        target=proto.TargetSpec(backend="interpreter"),
    )
    with pytest.raises(grpc.RpcError) as info:
        server.stub.Compile(bad, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("guards.inputs[0].tensor.meta.sizes[1]")

    request = execute_request(good.artifact_key, [x])
    request.inputs[0].tensor.raw = request.inputs[0].tensor.raw[:-4]
    with pytest.raises(grpc.RpcError) as info:
        server.stub.Execute(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("inputs[0].tensor.raw: 20 bytes")

    with pytest.raises(grpc.RpcError) as info:
        server.stub.Execute(execute_request("0" * 64, [x]), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    assert_outputs(execute(server, good.artifact_key, [x]), [x.exp()])
