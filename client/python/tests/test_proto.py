"""Tests of kiln.proto: messages built from the checked-in descriptor set."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent import futures
from typing import Any, Iterator, List

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

import kiln.proto as kp
from kiln.proto import services

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GEN_SCRIPT = os.path.join(REPO_ROOT, "tools", "gen_python_proto.sh")
needs_protoc = pytest.mark.skipif(
    shutil.which("protoc") is None or not os.path.exists(GEN_SCRIPT),
    reason="protoc or the repository's tools/ not available",
)


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    with open(kp.DESCRIPTOR_SET_PATH, "rb") as f:
        return descriptor_pb2.FileDescriptorSet.FromString(f.read())


def _all_message_paths() -> List[List[str]]:
    """Attribute paths ([outer, nested, ...]) of every kiln.v1 message."""
    paths: List[List[str]] = []

    def visit(msg: descriptor_pb2.DescriptorProto, prefix: List[str]) -> None:
        if msg.options.map_entry:
            return  # synthetic map-entry types are not user-facing
        path = prefix + [msg.name]
        paths.append(path)
        for nested in msg.nested_type:
            visit(nested, path)

    for f in _descriptor_set().file:
        if f.package == kp.PACKAGE:
            for msg in f.message_type:
                visit(msg, [])
    return paths


def _add_graph() -> Any:
    """x + y over two [2, 3] float32 placeholders."""
    graph = kp.Graph()
    for name in ("x", "y"):
        meta = graph.placeholders.add(name=name).tensor
        meta.dtype = kp.FLOAT32
        meta.device.type = kp.CPU
        meta.sizes.add(static_size=2)
        meta.sizes.add(static_size=3)
        meta.strides.add(static_size=3)
        meta.strides.add(static_size=1)
    node = graph.nodes.add(name="add", target="aten::add.Tensor")
    node.args.add().ref.node = "x"
    node.args.add().ref.node = "y"
    node.kwargs.add(name="alpha").value.int_value = 1
    node.outputs.add().tensor.CopyFrom(graph.placeholders[0].tensor)
    graph.outputs.add().ref.CopyFrom(kp.ValueRef(node="add", output_index=0))
    graph.debug["source"] = "test_proto.py"
    return graph


def _compile_request() -> Any:
    request = kp.CompileRequest(client_id="pytest")
    request.graph.CopyFrom(_add_graph())
    for placeholder in request.graph.placeholders:
        guard = request.guards.inputs.add().tensor
        guard.type_name = "torch.Tensor"
        guard.meta.CopyFrom(placeholder.tensor)
    state = request.guards.global_state
    state.grad_mode = True
    state.torch_function = kp.GlobalState.ENABLED
    state.default_dtype = kp.DType.FLOAT32
    state.fp32_matmul_precision = kp.GlobalState.HIGHEST
    state.autocast.add(device_type="cpu", enabled=False, dtype=kp.BFLOAT16)
    request.target.backend = "cpu"
    return request


def test_every_message_instantiates() -> None:
    paths = _all_message_paths()
    assert len(paths) > 50
    for path in paths:
        cls: Any = kp
        for name in path:
            cls = getattr(cls, name)
        message = cls()
        assert message.DESCRIPTOR.full_name == ".".join([kp.PACKAGE] + path)
        assert type(message).FromString(message.SerializeToString()) == message


def test_module_exports_every_top_level_name() -> None:
    for f in _descriptor_set().file:
        if f.package != kp.PACKAGE:
            continue
        for msg in f.message_type:
            assert getattr(kp, msg.name).DESCRIPTOR.name == msg.name
        for enum in f.enum_type:
            assert getattr(kp, enum.name).DESCRIPTOR.name == enum.name
            for value in enum.value:
                assert getattr(kp, value.name) == value.number
    assert "CompileRequest" in kp.__all__ and "FLOAT32" in kp.__all__


def test_compile_request_round_trips() -> None:
    request = _compile_request()
    wire = request.SerializeToString()
    parsed = kp.CompileRequest.FromString(wire)
    assert parsed == request
    assert [p.name for p in parsed.graph.placeholders] == ["x", "y"]
    node = parsed.graph.nodes[0]
    assert node.target == "aten::add.Tensor"
    assert node.args[1].WhichOneof("value") == "ref"
    assert node.args[1].ref.node == "y"
    assert node.kwargs[0].value.int_value == 1
    assert parsed.graph.placeholders[0].tensor.sizes[1].static_size == 3
    assert parsed.graph.debug["source"] == "test_proto.py"
    guard = parsed.guards.inputs[0].tensor
    assert not guard.HasField("alias_group")  # proto3 optional: unset
    guard.alias_group = 0
    assert guard.HasField("alias_group")
    assert parsed.guards.global_state.torch_function == kp.GlobalState.ENABLED
    assert parsed.target.backend == "cpu"


def test_enums() -> None:
    assert kp.DType.FLOAT32 == kp.FLOAT32 == 3
    assert kp.DType.Name(kp.BOOL) == "BOOL"
    assert kp.DType.Value("BFLOAT16") == 2
    assert kp.DType.DTYPE_UNSPECIFIED == 0
    assert kp.DeviceType.CUDA == kp.CUDA == 2
    assert kp.MemoryFormat.MEMORY_FORMAT_CHANNELS_LAST == 2
    assert kp.ScalarKind.SCALAR_KIND_FLOAT == 2
    # Nested enums: values on the message class and through the enum type.
    assert kp.SymExpr.Op.FLOOR_DIV == kp.SymExpr.FLOOR_DIV == 13
    assert kp.GlobalState.TorchFunctionState.ALL_DISABLED == 3
    assert kp.GlobalState.MEDIUM == 3
    assert kp.GuardFailure.Kind.Name(kp.GuardFailure.SIZE) == "SIZE"
    assert kp.ListRequest.SortOrder.LAST_USED == 1
    assert kp.OutputInfo.NONE == 4


def test_sym_expr_tree() -> None:
    # Eq(2*s1, s0)
    expr = kp.SymExpr(
        op=kp.SymExpr.EQ,
        operands=[
            kp.SymExpr(
                op=kp.SymExpr.MUL,
                operands=[
                    kp.SymExpr(op=kp.SymExpr.CONSTANT, constant=2),
                    kp.SymExpr(op=kp.SymExpr.SYMBOL, symbol="s1"),
                ],
            ),
            kp.SymExpr(op=kp.SymExpr.SYMBOL, symbol="s0"),
        ],
    )
    parsed = kp.SymExpr.FromString(expr.SerializeToString())
    assert parsed.operands[0].operands[1].symbol == "s1"
    dim = kp.Dim(expr=parsed.operands[1])
    assert dim.WhichOneof("value") == "expr"


@needs_protoc
def test_checked_in_descriptor_set_is_fresh() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = os.path.join(tmp, "kiln_v1.desc")
        subprocess.run([GEN_SCRIPT, fresh], check=True)
        with open(fresh, "rb") as f:
            fresh_bytes = f.read()
    with open(kp.DESCRIPTOR_SET_PATH, "rb") as f:
        checked_in = f.read()
    assert checked_in == fresh_bytes, (
        "client/python/kiln/proto/kiln_v1.desc is stale: run "
        "tools/gen_python_proto.sh and commit the result"
    )


@needs_protoc
def test_loader_resolves_well_known_types() -> None:
    # A set importing google/protobuf/timestamp.proto and duration.proto, as
    # --include_imports writes it, loads into a fresh pool; loading it again
    # (files already present) is tolerated.
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "wkt_user.proto"), "w") as f:
            f.write(
                'syntax = "proto3";\n'
                "package kiln.test;\n"
                'import "google/protobuf/timestamp.proto";\n'
                'import "google/protobuf/duration.proto";\n'
                "message Stamped {\n"
                "  google.protobuf.Timestamp at = 1;\n"
                "  google.protobuf.Duration took = 2;\n"
                "}\n"
            )
        out = os.path.join(tmp, "wkt.desc")
        subprocess.run(
            ["protoc", f"--proto_path={tmp}", "--include_imports",
             f"--descriptor_set_out={out}", "wkt_user.proto"],
            check=True,
        )
        with open(out, "rb") as f:
            data = f.read()
    pool = descriptor_pool.DescriptorPool()
    files = kp.load_descriptor_set(data, pool)
    names = [f.name for f in files]
    assert names.index("google/protobuf/timestamp.proto") < names.index("wkt_user.proto")
    kp.load_descriptor_set(data, pool)
    stamped = pool.FindMessageTypeByName("kiln.test.Stamped")
    assert stamped.fields_by_name["at"].message_type.full_name == "google.protobuf.Timestamp"


def test_stub_method_names() -> None:
    channel = services.grpc.insecure_channel("localhost:1")  # never connects
    try:
        compiler = services.CompilerStub(channel)
        for name in ["Compile", "Lookup", "Execute", "ExecuteStream",
                     "RegisterSharedMemory", "UnregisterSharedMemory",
                     "GetArtifact", "Capabilities"]:
            assert callable(getattr(compiler, name)), name
        admin = services.CacheAdminStub(channel)
        for name in ["List", "Get", "Stats", "Explain", "Evict", "Export", "Import"]:
            assert callable(getattr(admin, name)), name
    finally:
        channel.close()
    assert [m.name for m in services.methods(services.COMPILER_SERVICE)] == [
        "Compile", "Lookup", "Execute", "ExecuteStream", "RegisterSharedMemory",
        "UnregisterSharedMemory", "GetArtifact", "Capabilities",
    ]
    stream = {m.name: m for m in services.methods(services.COMPILER_SERVICE)}["ExecuteStream"]
    assert stream.client_streaming and stream.server_streaming
    assert stream.path == "/kiln.v1.Compiler/ExecuteStream"
    admin_methods = {m.name: m for m in services.methods(services.CACHE_ADMIN_SERVICE)}
    assert admin_methods["Export"].server_streaming
    assert not admin_methods["Export"].client_streaming
    assert admin_methods["Import"].client_streaming
    assert admin_methods["List"].request_class is kp.ListRequest


class _FakeCompiler(services.CompilerServicer):  # type: ignore[misc, valid-type]
    def Compile(self, request: Any, context: Any) -> Any:
        return kp.CompileResponse(
            artifact_key="k" * 64,
            cache_hit=False,
            target=request.target.backend + "-test",
        )

    def ExecuteStream(self, requests: Iterator[Any], context: Any) -> Iterator[Any]:
        received = bytearray()
        for message in requests:
            if message.WhichOneof("kind") == "chunk":
                received += message.chunk.data
        response = kp.ExecuteResponse()
        response.outputs.add().tensor.raw = bytes(received)
        yield kp.ExecuteStreamResponse(header=response)
        yield kp.ExecuteStreamResponse(end=kp.StreamEnd())


class _FakeAdmin(services.CacheAdminServicer):  # type: ignore[misc, valid-type]
    def Export(self, request: Any, context: Any) -> Iterator[Any]:
        for piece in (b"KILN", b"BNDL"):
            yield kp.ExportChunk(data=piece)

    def Import(self, chunks: Iterator[Any], context: Any) -> Any:
        return kp.ImportResponse(imported=sum(len(c.data) for c in chunks))


def test_services_over_a_real_channel() -> None:
    grpc = services.grpc
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services.add_CompilerServicer_to_server(_FakeCompiler(), server)
    services.add_CacheAdminServicer_to_server(_FakeAdmin(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        compiler = services.CompilerStub(channel)
        response = compiler.Compile(_compile_request(), timeout=10)
        assert response.artifact_key == "k" * 64
        assert response.target == "cpu-test"

        header = kp.ExecuteRequest(artifact_key="k" * 64)
        header.inputs.add().tensor.chunked.byte_size = 6
        messages = [
            kp.ExecuteStreamRequest(header=header),
            kp.ExecuteStreamRequest(chunk=kp.TensorChunk(tensor_index=0, offset=0, data=b"abc")),
            kp.ExecuteStreamRequest(chunk=kp.TensorChunk(tensor_index=0, offset=3, data=b"def")),
            kp.ExecuteStreamRequest(end=kp.StreamEnd()),
        ]
        replies = list(compiler.ExecuteStream(iter(messages), timeout=10))
        assert [r.WhichOneof("kind") for r in replies] == ["header", "end"]
        assert replies[0].header.outputs[0].tensor.raw == b"abcdef"

        with pytest.raises(grpc.RpcError) as error:
            compiler.Capabilities(kp.CapabilitiesRequest(), timeout=10)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED

        admin = services.CacheAdminStub(channel)
        bundle = b"".join(c.data for c in admin.Export(kp.ExportRequest(), timeout=10))
        assert bundle == b"KILNBNDL"
        result = admin.Import(iter([kp.ImportChunk(data=bundle)]), timeout=10)
        assert result.imported == 8
    finally:
        channel.close()
        server.stop(None)
