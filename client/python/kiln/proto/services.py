"""gRPC stubs and servicer bases for the kiln.v1 services.

Built from the service descriptors in ``kiln_v1.desc`` rather than generated
by grpc_tools, so they work with grpcio 1.51 and 1.84 alike. Usage::

    channel = grpc.insecure_channel("localhost:50051")
    caps = CompilerStub(channel).Capabilities(CapabilitiesRequest())

Each stub has one callable per rpc, named as in the proto (``Compile``,
``ExecuteStream``, ``List``, ...), made with the channel's
``unary_unary`` / ``unary_stream`` / ``stream_unary`` / ``stream_stream``.
``CompilerServicer`` / ``CacheAdminServicer`` and ``add_*_to_server`` serve
the same services in Python (tests, fakes); unimplemented rpcs answer
UNIMPLEMENTED.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple

import grpc

from kiln import proto as _proto

COMPILER_SERVICE = "kiln.v1.Compiler"
CACHE_ADMIN_SERVICE = "kiln.v1.CacheAdmin"


class Method(NamedTuple):
    """One rpc of a service."""

    name: str
    path: str  # "/kiln.v1.Compiler/Compile"
    request_class: Any
    response_class: Any
    client_streaming: bool
    server_streaming: bool


def _message_class(type_name: str) -> Any:
    # Method types are fully qualified with a leading dot: ".kiln.v1.Graph".
    return _proto.MESSAGES[type_name.lstrip(".")]


def methods(service: str) -> List[Method]:
    """The rpcs of a kiln.v1 service ("kiln.v1.Compiler"), in proto order."""
    for file_proto in _proto.FILE_PROTOS:
        for service_proto in file_proto.service:
            if f"{file_proto.package}.{service_proto.name}" != service:
                continue
            return [
                Method(
                    name=m.name,
                    path=f"/{service}/{m.name}",
                    request_class=_message_class(m.input_type),
                    response_class=_message_class(m.output_type),
                    client_streaming=m.client_streaming,
                    server_streaming=m.server_streaming,
                )
                for m in service_proto.method
            ]
    raise KeyError(f"no service {service} in {_proto.PACKAGE}")


def _channel_factory(channel: grpc.Channel, method: Method) -> Any:
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(method.client_streaming, method.server_streaming)]
    return kind(
        method.path,
        request_serializer=method.request_class.SerializeToString,
        response_deserializer=method.response_class.FromString,
    )


class _Stub:
    SERVICE = ""

    def __init__(self, channel: grpc.Channel) -> None:
        for method in methods(self.SERVICE):
            setattr(self, method.name, _channel_factory(channel, method))


class CompilerStub(_Stub):
    """Client of kiln.v1.Compiler: Compile, Lookup, Execute, ExecuteStream,
    RegisterSharedMemory, UnregisterSharedMemory, GetArtifact, Capabilities."""

    SERVICE = COMPILER_SERVICE


class CacheAdminStub(_Stub):
    """Client of kiln.v1.CacheAdmin: List, Get, Stats, Explain, Evict,
    Export, Import."""

    SERVICE = CACHE_ADMIN_SERVICE


def _unimplemented(name: str) -> Any:
    def rpc(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        context.set_details(f"{name} is not implemented")
        raise NotImplementedError(f"{name} is not implemented")

    rpc.__name__ = name
    return rpc


def _servicer_base(service: str, class_name: str) -> type:
    namespace: Dict[str, Any] = {
        m.name: _unimplemented(m.name) for m in methods(service)
    }
    namespace["SERVICE"] = service
    namespace["__doc__"] = (
        f"Base class of a {service} implementation: override the rpcs; the "
        "rest answer UNIMPLEMENTED."
    )
    return type(class_name, (object,), namespace)


CompilerServicer = _servicer_base(COMPILER_SERVICE, "CompilerServicer")
CacheAdminServicer = _servicer_base(CACHE_ADMIN_SERVICE, "CacheAdminServicer")


def _add_to_server(service: str, servicer: Any, server: grpc.Server) -> None:
    handler_factories = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    handlers = {
        m.name: handler_factories[(m.client_streaming, m.server_streaming)](
            getattr(servicer, m.name),
            request_deserializer=m.request_class.FromString,
            response_serializer=m.response_class.SerializeToString,
        )
        for m in methods(service)
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, handlers),)
    )


def add_CompilerServicer_to_server(servicer: Any, server: grpc.Server) -> None:
    """Serves ``servicer`` (a CompilerServicer) as kiln.v1.Compiler."""
    _add_to_server(COMPILER_SERVICE, servicer, server)


def add_CacheAdminServicer_to_server(servicer: Any, server: grpc.Server) -> None:
    """Serves ``servicer`` (a CacheAdminServicer) as kiln.v1.CacheAdmin."""
    _add_to_server(CACHE_ADMIN_SERVICE, servicer, server)


__all__ = [
    "CACHE_ADMIN_SERVICE",
    "COMPILER_SERVICE",
    "CacheAdminServicer",
    "CacheAdminStub",
    "CompilerServicer",
    "CompilerStub",
    "Method",
    "add_CacheAdminServicer_to_server",
    "add_CompilerServicer_to_server",
    "methods",
]
