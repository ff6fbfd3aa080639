"""Tensors with an exact layout, and concrete tensors on the wire.

* :func:`storage_extent` / :func:`strided_like` / :func:`clone_preserving_layout`
  build tensors with given sizes, strides and storage offset (the exporter
  runs graphs on such copies; the oracle makes inputs that match a
  placeholder's TensorMeta);
* :func:`to_proto_tensor` / :func:`from_proto_tensor` convert a torch tensor
  to a ``kiln.v1.Tensor`` with inline bytes and back, with the data layout
  tensor.proto defines (row-major logical order, little-endian).
"""

from __future__ import annotations

import sys
from typing import Sequence

import torch

from kiln import proto
from kiln.torch_types import (
    device_from_proto,
    device_to_proto,
    dtype_from_proto,
    dtype_to_proto,
)

__all__ = [
    "storage_extent",
    "strided_like",
    "clone_preserving_layout",
    "to_proto_tensor",
    "from_proto_tensor",
]


def storage_extent(sizes: Sequence[int], strides: Sequence[int], storage_offset: int = 0) -> int:
    """Elements a storage needs to hold a tensor of this layout (0 if empty)."""
    if any(s == 0 for s in sizes):
        return storage_offset
    return storage_offset + 1 + sum((s - 1) * st for s, st in zip(sizes, strides))


def strided_like(
    values: torch.Tensor,
    sizes: Sequence[int],
    strides: Sequence[int],
    storage_offset: int = 0,
) -> torch.Tensor:
    """A tensor with exactly this layout holding ``values`` (same sizes).

    Dims of stride 0 (broadcast inputs) take their elements from index 0 of
    ``values`` along that dim; the storage around the tensor is filled with
    zeros (finite, so a kernel that reads out of bounds is likely to show).
    Other self-overlapping layouts (``as_strided`` views) work when the
    elements sharing a location agree, else ValueError.
    """
    sizes, strides = list(sizes), list(strides)
    if list(values.shape) != sizes:
        raise ValueError(f"values have sizes {list(values.shape)}, layout has {sizes}")
    storage = torch.zeros(
        storage_extent(sizes, strides, storage_offset), dtype=values.dtype, device=values.device
    )
    out = storage.as_strided(sizes, strides, storage_offset)
    if out.numel() == 0:
        return out
    # Write through a view without the stride-0 dims, so no two written
    # elements share a location.
    dst, src = out, values
    for d, st in enumerate(strides):
        if st == 0 and sizes[d] > 1:
            dst = dst.narrow(d, 0, 1)
            src = src.narrow(d, 0, 1)
    if _overlaps(list(dst.shape), list(dst.stride())):
        _scatter_consistent(storage, src, list(dst.shape), list(dst.stride()), storage_offset, sizes, strides)
        return out
    dst.copy_(src)
    return out


def _scatter_consistent(
    storage: torch.Tensor,
    values: torch.Tensor,
    sizes: Sequence[int],
    strides: Sequence[int],
    storage_offset: int,
    full_sizes: Sequence[int],
    full_strides: Sequence[int],
) -> None:
    """Writes ``values`` into the storage locations of a self-overlapping
    layout (as_strided(x, [2, 2], [1, 1])): possible when every location's
    elements agree, else ValueError."""
    index = torch.full(list(sizes), storage_offset, dtype=torch.int64)
    for d, (n, st) in enumerate(zip(sizes, strides)):
        shape = [1] * len(sizes)
        shape[d] = n
        index = index + (torch.arange(n, dtype=torch.int64) * st).reshape(shape)
    flat_index, flat_values = index.reshape(-1), values.reshape(-1)
    storage[flat_index] = flat_values
    as_bits = lambda t: t.view(torch.uint8).reshape(t.numel(), -1)  # noqa: E731 - NaN-safe equality
    if not torch.equal(as_bits(storage[flat_index].contiguous()), as_bits(flat_values.contiguous())):
        raise ValueError(
            f"layout sizes={list(full_sizes)} strides={list(full_strides)} overlaps itself, "
            "and elements sharing a location differ"
        )


def _overlaps(sizes: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether two elements may share a location. Exact for the layouts
    views produce (each dim's stride clears the extent of the smaller ones);
    interleaved as_strided layouts are conservatively reported."""
    dims = sorted((st, n) for n, st in zip(sizes, strides) if n > 1)
    extent = 0  # highest offset reachable with the dims so far
    for st, n in dims:
        if st <= extent:
            return True
        extent += (n - 1) * st
    return False


def clone_preserving_layout(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` with the same sizes, strides and storage offset, in a
    storage of its own; requires_grad is not copied."""
    with torch.no_grad():
        return strided_like(t.detach(), list(t.shape), list(t.stride()), t.storage_offset())


def to_proto_tensor(t: torch.Tensor) -> "proto.Tensor":
    """A kiln.v1.Tensor with the data inline (``raw``)."""
    msg = proto.Tensor(
        dtype=dtype_to_proto(t.dtype),
        device=device_to_proto(t.device),
        sizes=list(t.shape),
        strides=list(t.stride()),
        storage_offset=t.storage_offset(),
        requires_grad=t.requires_grad,
    )
    # A fresh dense buffer: contiguous() keeps a size-1 dim's stride 0
    # (ATen calls that layout contiguous), which a byte view rejects.
    flat = torch.empty(t.numel(), dtype=t.dtype)
    flat.copy_(t.detach().to("cpu").reshape(-1))
    if flat.element_size() > 1 and sys.byteorder != "little":
        raise NotImplementedError("big-endian hosts are not supported")
    # Reinterpret as bytes; uint8 view works for every dtype (bool included).
    msg.raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return msg


def from_proto_tensor(msg: "proto.Tensor", *, device: "torch.device | str | None" = None) -> torch.Tensor:
    """The torch tensor a kiln.v1.Tensor with ``raw`` data describes, with the
    message's strides and storage offset. ``device`` overrides the message's."""
    if msg.WhichOneof("data") != "raw":
        raise ValueError(f"tensor data is {msg.WhichOneof('data')!r}, only 'raw' is supported here")
    dtype = dtype_from_proto(msg.dtype)
    sizes = list(msg.sizes)
    numel = 1
    for s in sizes:
        numel *= s
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(msg.raw) != numel * itemsize:
        raise ValueError(f"raw has {len(msg.raw)} bytes, sizes {sizes} of {dtype} need {numel * itemsize}")
    data = torch.frombuffer(bytearray(msg.raw), dtype=torch.uint8) if msg.raw else torch.empty(0, dtype=torch.uint8)
    target = torch.device(device) if device is not None else device_from_proto(msg.device)
    values = data.view(dtype).reshape(sizes).to(target)
    out = strided_like(values, sizes, list(msg.strides), msg.storage_offset)
    return out.requires_grad_(msg.requires_grad) if out.is_floating_point() else out
