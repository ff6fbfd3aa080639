"""Captured graphs on disk: a ``kiln.v1.Graph`` with inputs and expected outputs.

One case is two files in a directory:

* ``NAME.pb``: the Graph, serialized deterministically;
* ``NAME.npz``: the tensors, ``input_<i>`` and ``output_<i>`` (one per
  placeholder and per graph output), plus ``__meta__``, a JSON string that
  says what each entry is: ``{"kind": "tensor", "dtype": "bfloat16"}``,
  ``{"kind": "int", "value": 3}``, ``{"kind": "none"}``, ... bfloat16 has no
  numpy dtype and is stored as its uint16 bit patterns. Tensors are stored in
  logical (row-major) order; :func:`load` gives inputs the exact strides,
  storage offset and requires_grad of their placeholder again.

The .npz is written with fixed timestamps, so the same case always gives the
same bytes. numpy is only needed here (and only to load or save).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from typing import Any, Dict, List, Tuple

import torch

from kiln import proto
from kiln.tensors import strided_like

__all__ = ["CapturedGraph", "save", "load", "list_cases"]

_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclasses.dataclass
class CapturedGraph:
    """A graph with one set of inputs and the outputs PyTorch computed."""

    name: str
    graph: "proto.Graph"
    inputs: List[Any]
    expected: List[Any]


def _encode(value: Any, key: str, arrays: Dict[str, Any]) -> Dict[str, Any]:
    import numpy as np

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        dtype = str(t.dtype).replace("torch.", "")
        if t.dtype == torch.bfloat16:
            arrays[key] = t.view(torch.int16).numpy().view(np.uint16)
        else:
            arrays[key] = t.numpy()
        return {"kind": "tensor", "dtype": dtype}
    if value is None:
        return {"kind": "none"}
    for kind, cls in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, cls):
            return {"kind": kind, "value": value}
    raise TypeError(f"{key}: cannot store a {type(value).__name__}")


def _decode(entry: Dict[str, Any], key: str, arrays: Any) -> Any:
    kind = entry["kind"]
    if kind != "tensor":
        return entry.get("value")
    array = arrays[key]
    if entry["dtype"] == "bfloat16":
        return torch.from_numpy(array.view("int16").copy()).view(torch.bfloat16)
    tensor = torch.from_numpy(array.copy())
    want = getattr(torch, entry["dtype"])
    if tensor.dtype != want:
        raise ValueError(f"{key}: stored as {tensor.dtype}, meta says {want}")
    return tensor


def save(case: CapturedGraph, directory: str) -> Tuple[str, str]:
    """Writes NAME.pb and NAME.npz; returns their paths."""
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    pb_path = os.path.join(directory, case.name + ".pb")
    npz_path = os.path.join(directory, case.name + ".npz")
    with open(pb_path, "wb") as f:
        f.write(case.graph.SerializeToString(deterministic=True))
    arrays: Dict[str, Any] = {}
    meta = {
        "inputs": [_encode(v, f"input_{i}", arrays) for i, v in enumerate(case.inputs)],
        "outputs": [_encode(v, f"output_{i}", arrays) for i, v in enumerate(case.expected)],
    }
    arrays["__meta__"] = np.array(json.dumps(meta, sort_keys=True))
    with zipfile.ZipFile(npz_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())
    return pb_path, npz_path


def _restore_layout(value: Any, placeholder: "proto.Placeholder") -> Any:
    if not isinstance(value, torch.Tensor) or placeholder.WhichOneof("kind") != "tensor":
        return value
    meta = placeholder.tensor
    dims = list(meta.sizes) + list(meta.strides) + [meta.storage_offset]
    if any(d.WhichOneof("value") == "expr" for d in dims):
        return value  # symbolic layout: keep the stored (contiguous) one
    strides = [d.static_size for d in meta.strides]
    out = strided_like(value, list(value.shape), strides, meta.storage_offset.static_size)
    if meta.requires_grad and out.is_floating_point():
        out.requires_grad_(True)
    return out


def load(directory: str, name: str) -> CapturedGraph:
    """Reads NAME.pb and NAME.npz back; inputs get their placeholders'
    strides, storage offsets and requires_grad."""
    import numpy as np

    graph = proto.Graph()
    with open(os.path.join(directory, name + ".pb"), "rb") as f:
        graph.ParseFromString(f.read())
    with np.load(os.path.join(directory, name + ".npz"), allow_pickle=False) as arrays:
        meta = json.loads(str(arrays["__meta__"]))
        inputs = [_decode(e, f"input_{i}", arrays) for i, e in enumerate(meta["inputs"])]
        expected = [_decode(e, f"output_{i}", arrays) for i, e in enumerate(meta["outputs"])]
    if len(inputs) != len(graph.placeholders):
        raise ValueError(f"{name}: {len(inputs)} stored inputs for {len(graph.placeholders)} placeholders")
    inputs = [_restore_layout(v, p) for v, p in zip(inputs, graph.placeholders)]
    return CapturedGraph(name=name, graph=graph, inputs=inputs, expected=expected)


def list_cases(directory: str) -> List[str]:
    """Names of the cases in ``directory`` (those with both files), sorted."""
    names = []
    for entry in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(entry)
        if ext == ".pb" and os.path.exists(os.path.join(directory, stem + ".npz")):
            names.append(stem)
    return names
