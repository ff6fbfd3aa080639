"""The kiln.v1 wire messages, for any protobuf runtime from 3.21 to 7.x.

protoc-generated ``_pb2`` modules are tied to the protobuf runtime they were
generated for, and the client runs on hosts with protobuf 3.21 (Debian) and
protobuf 7 (GPU hosts). So instead this package ships the serialized
FileDescriptorSet of ``proto/kiln/v1/*.proto`` (``kiln_v1.desc``, regenerated
by ``tools/gen_python_proto.sh``) and builds the message classes from it at
import time, in a private descriptor pool that cannot clash with other
packages' protos.

Every kiln.v1 message is a module attribute, as with a ``_pb2`` module::

    from kiln.proto import CompileRequest, DType, FLOAT32

Top-level enums are ``EnumTypeWrapper`` objects (``DType.FLOAT32``,
``DType.Name(3)``) and their values are also module-level ints (``FLOAT32``).
Nested enums and messages hang off their message class (``SymExpr.Op.ADD``,
``SymExpr.ADD``, ``GlobalState.ENABLED``). gRPC stubs are in
:mod:`kiln.proto.services`.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Set

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

PACKAGE = "kiln.v1"
DESCRIPTOR_SET_PATH = os.path.join(os.path.dirname(__file__), "kiln_v1.desc")


def _topological(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> List[
    descriptor_pb2.FileDescriptorProto
]:
    """Orders files so that every file comes after its dependencies."""
    by_name = {f.name: f for f in files}
    ordered: List[descriptor_pb2.FileDescriptorProto] = []
    done: Set[str] = set()

    def visit(name: str, path: tuple) -> None:
        if name in done or name not in by_name:
            # Files missing from the set must already be in the pool; adding
            # a dependant then reports them if they are not.
            return
        if name in path:
            raise ValueError(f"import cycle in descriptor set: {path + (name,)}")
        for dep in by_name[name].dependency:
            visit(dep, path + (name,))
        done.add(name)
        ordered.append(by_name[name])

    for name in by_name:
        visit(name, ())
    return ordered


def load_descriptor_set(
    data: bytes, pool: descriptor_pool.DescriptorPool
) -> List[descriptor_pb2.FileDescriptorProto]:
    """Adds the files of a serialized FileDescriptorSet to ``pool``.

    Files are added in dependency order. A file the pool already has (a
    well-known type the runtime provides, or a second load) is left as it is.
    Returns the set's files, in the order they were considered.
    """
    files = _topological(descriptor_pb2.FileDescriptorSet.FromString(data).file)
    for file_proto in files:
        try:
            pool.FindFileByName(file_proto.name)
            continue  # already present
        except KeyError:
            pass
        try:
            pool.AddSerializedFile(file_proto.SerializeToString())
        except Exception as err:  # noqa: BLE001 - runtimes raise different types
            # Fine if the pool has the file after all (an underlay pool).
            try:
                pool.FindFileByName(file_proto.name)
            except KeyError:
                raise err from None
    return files


def _make_class_getter(pool: descriptor_pool.DescriptorPool) -> Any:
    """Returns descriptor -> message class for this runtime."""
    get_message_class = getattr(message_factory, "GetMessageClass", None)
    if get_message_class is not None:  # protobuf >= 4.22
        return get_message_class
    factory = message_factory.MessageFactory(pool)  # protobuf 3.x / 4.21
    return factory.GetPrototype


with open(DESCRIPTOR_SET_PATH, "rb") as _f:
    _DESCRIPTOR_SET_BYTES = _f.read()

#: The private pool holding kiln.v1 (and the files it imports).
DESCRIPTOR_POOL = descriptor_pool.DescriptorPool()
_FILES = load_descriptor_set(_DESCRIPTOR_SET_BYTES, DESCRIPTOR_POOL)
#: The kiln.v1 files of the set, as FileDescriptorProtos (services.py reads
#: rpc streaming flags from them).
FILE_PROTOS: List[descriptor_pb2.FileDescriptorProto] = [
    f for f in _FILES if f.package == PACKAGE
]

_get_class = _make_class_getter(DESCRIPTOR_POOL)

#: Full name ("kiln.v1.Graph") -> message class, top-level messages only.
MESSAGES: Dict[str, Any] = {}
#: Full name -> EnumTypeWrapper, top-level enums only.
ENUMS: Dict[str, EnumTypeWrapper] = {}


def _export(name: str, value: Any) -> None:
    if name in globals() and globals()[name] is not value:
        raise ImportError(f"kiln.proto: {name} is defined twice in {PACKAGE}")
    globals()[name] = value


for _file in FILE_PROTOS:
    for _msg in _file.message_type:
        _cls = _get_class(
            DESCRIPTOR_POOL.FindMessageTypeByName(f"{PACKAGE}.{_msg.name}")
        )
        MESSAGES[_cls.DESCRIPTOR.full_name] = _cls
        _export(_msg.name, _cls)
    for _enum in _file.enum_type:
        _wrapper = EnumTypeWrapper(
            DESCRIPTOR_POOL.FindEnumTypeByName(f"{PACKAGE}.{_enum.name}")
        )
        ENUMS[f"{PACKAGE}.{_enum.name}"] = _wrapper
        _export(_enum.name, _wrapper)
        for _value in _enum.value:
            _export(_value.name, _value.number)

__all__ = sorted(
    [n.rsplit(".", 1)[1] for n in MESSAGES]
    + [n.rsplit(".", 1)[1] for n in ENUMS]
    + [v.name for f in FILE_PROTOS for e in f.enum_type for v in e.value]
)

del _f, _file, _msg, _cls, _enum, _wrapper, _value
