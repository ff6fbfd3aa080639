"""The Python client's messages and stubs against the real kiln-server."""

from __future__ import annotations

import grpc
import pytest

from kiln import proto
from kiln.proto import services


def test_capabilities_over_grpc(kiln_server) -> None:
    with grpc.insecure_channel(kiln_server.address) as channel:
        stub = services.CompilerStub(channel)
        caps = stub.Capabilities(proto.CapabilitiesRequest(), timeout=10)
    assert caps.protocol_version == "kiln.v1"
    assert caps.server_version
    names = [b.name for b in caps.backends]
    assert names[:2] == ["cpu", "cuda"]
    assert caps.backends[0].available
    assert caps.limits.max_message_bytes == 64 << 20
    assert len(caps.store_id) == 32
    assert proto.FLOAT32 in caps.backends[0].dtypes


def test_compile_names_the_missing_field(kiln_server) -> None:
    request = proto.CompileRequest()
    placeholder = request.graph.placeholders.add(name="x")
    placeholder.tensor.dtype = proto.FLOAT32
    node = request.graph.nodes.add(name="neg", target="aten::neg.default")
    node.args.add().ref.node = "x"
    with grpc.insecure_channel(kiln_server.address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            services.CompilerStub(channel).Compile(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("guards: required")


def test_streaming_admin_rpcs_round_trip(kiln_server) -> None:
    """Export streams a bundle (here: an empty store's) and Import takes it
    back through a client stream, with the Python stubs."""
    with grpc.insecure_channel(kiln_server.address) as channel:
        stub = services.CacheAdminStub(channel)
        bundle = b"".join(chunk.data for chunk in stub.Export(proto.ExportRequest(), timeout=10))
        assert bundle.startswith(b"KILNBNDL")
        response = stub.Import(iter([proto.ImportChunk(data=bundle)]), timeout=10)
        assert (response.imported, response.skipped_existing, response.rejected) == (0, 0, 0)
        with pytest.raises(grpc.RpcError) as info:
            stub.Import(iter([proto.ImportChunk(data=b"not a bundle")]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_server_stops_cleanly_on_sigterm(kiln_server) -> None:
    assert kiln_server.stop() == 0
    log = kiln_server.log_path.read_text()
    assert "stopped cleanly" in log
