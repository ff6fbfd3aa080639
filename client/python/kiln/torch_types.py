"""Conversions between torch's type objects and their kiln.v1 enums.

dtype, device, memory format and layout, both ways. Every function raises
:class:`UnsupportedTypeError` (a ``TypeError``) naming the value when kiln.v1
has no counterpart, so callers can add the node or argument they were
converting to the message.
"""

from __future__ import annotations

from typing import Dict

import torch

from kiln import proto

__all__ = [
    "UnsupportedTypeError",
    "dtype_to_proto",
    "dtype_from_proto",
    "element_size",
    "device_to_proto",
    "device_from_proto",
    "memory_format_to_proto",
    "memory_format_from_proto",
    "layout_to_proto",
    "layout_from_proto",
    "FLOATING_DTYPES",
    "INTEGRAL_DTYPES",
    "ALL_DTYPES",
]


class UnsupportedTypeError(TypeError):
    """A torch type object (dtype, device, ...) that kiln.v1 cannot carry."""


_DTYPES: Dict[torch.dtype, int] = {
    torch.float16: proto.FLOAT16,
    torch.bfloat16: proto.BFLOAT16,
    torch.float32: proto.FLOAT32,
    torch.float64: proto.FLOAT64,
    torch.int8: proto.INT8,
    torch.int16: proto.INT16,
    torch.int32: proto.INT32,
    torch.int64: proto.INT64,
    torch.uint8: proto.UINT8,
    torch.bool: proto.BOOL,
}
_DTYPES_BACK: Dict[int, torch.dtype] = {v: k for k, v in _DTYPES.items()}

#: The dtypes kiln.v1 knows, by kind.
FLOATING_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INTEGRAL_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
ALL_DTYPES = FLOATING_DTYPES + INTEGRAL_DTYPES + (torch.bool,)

_MEMORY_FORMATS: Dict[torch.memory_format, int] = {
    torch.contiguous_format: proto.MEMORY_FORMAT_CONTIGUOUS,
    torch.channels_last: proto.MEMORY_FORMAT_CHANNELS_LAST,
    torch.channels_last_3d: proto.MEMORY_FORMAT_CHANNELS_LAST_3D,
    torch.preserve_format: proto.MEMORY_FORMAT_PRESERVE,
}
_MEMORY_FORMATS_BACK = {v: k for k, v in _MEMORY_FORMATS.items()}


def dtype_to_proto(dtype: torch.dtype) -> int:
    """torch.float32 -> proto.FLOAT32."""
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise UnsupportedTypeError(f"dtype {dtype} has no kiln.v1 DType") from None


def dtype_from_proto(dtype: int) -> torch.dtype:
    """proto.FLOAT32 -> torch.float32."""
    try:
        return _DTYPES_BACK[dtype]
    except KeyError:
        raise UnsupportedTypeError(f"DType value {dtype} is not a kiln.v1 dtype") from None


def element_size(dtype: int) -> int:
    """Bytes per element of a kiln.v1 DType."""
    return torch.empty((), dtype=dtype_from_proto(dtype)).element_size()


def device_to_proto(device: torch.device) -> "proto.Device":
    """torch.device("cuda:1") -> Device{type: CUDA, index: 1}.

    ``cuda`` without an index resolves to the current CUDA device, as the wire
    contract requires; ``meta`` and other device types are unsupported.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return proto.Device(type=proto.CPU, index=0)
    if device.type == "cuda":
        index = device.index
        if index is None:
            index = torch.cuda.current_device() if torch.cuda.is_available() else 0
        return proto.Device(type=proto.CUDA, index=index)
    raise UnsupportedTypeError(f"device {device} has no kiln.v1 Device (only cpu and cuda)")


def device_from_proto(device: "proto.Device") -> torch.device:
    """Device{type: CUDA, index: 1} -> torch.device("cuda:1")."""
    if device.type == proto.CPU:
        return torch.device("cpu")
    if device.type == proto.CUDA:
        return torch.device("cuda", device.index)
    raise UnsupportedTypeError(f"DeviceType value {device.type} is not a kiln.v1 device type")


def memory_format_to_proto(memory_format: torch.memory_format) -> int:
    """torch.channels_last -> proto.MEMORY_FORMAT_CHANNELS_LAST."""
    try:
        return _MEMORY_FORMATS[memory_format]
    except KeyError:
        raise UnsupportedTypeError(
            f"memory format {memory_format} has no kiln.v1 MemoryFormat"
        ) from None


def memory_format_from_proto(memory_format: int) -> torch.memory_format:
    """proto.MEMORY_FORMAT_CONTIGUOUS -> torch.contiguous_format."""
    try:
        return _MEMORY_FORMATS_BACK[memory_format]
    except KeyError:
        raise UnsupportedTypeError(
            f"MemoryFormat value {memory_format} is not a kiln.v1 memory format"
        ) from None


def layout_to_proto(layout: torch.layout) -> int:
    """torch.strided -> proto.LAYOUT_STRIDED (the only layout kiln.v1 has)."""
    if layout == torch.strided:
        return proto.LAYOUT_STRIDED
    raise UnsupportedTypeError(f"layout {layout} has no kiln.v1 Layout (only torch.strided)")


def layout_from_proto(layout: int) -> torch.layout:
    """proto.LAYOUT_STRIDED -> torch.strided."""
    if layout == proto.LAYOUT_STRIDED:
        return torch.strided
    raise UnsupportedTypeError(f"Layout value {layout} is not a kiln.v1 layout")
