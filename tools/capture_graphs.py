#!/usr/bin/python3
"""Captures ATen graphs from real PyTorch programs as Kiln test data.

Writes, under tests/data/graphs/ (or --out), one case per graph: NAME.pb (a
kiln.v1.Graph) and NAME.npz (inputs and the outputs PyTorch computed; format
in client/python/kiln/testing/captured.py), and OPS.txt, the distinct ATen
ops the graphs use. Everything is seeded, so a run on the same torch gives
the same files.

* mlp_fw / mlp_bw: Linear-ReLU-Linear with cross-entropy loss, forward and
  backward graphs from functorch's aot_function;
* transformer_fw / transformer_bw: torch.nn.TransformerEncoderLayer (train
  mode, post-norm, ReLU, dropout 0), forward and backward;
* transformer_prenorm_fw / transformer_prenorm_bw: the same layer in eval
  mode with norm_first, GELU and a causal attention mask;
* pointwise, reductions, softmax, layer_norm, low_precision, int_bool,
  views, creation, empty_dims: functions traced with make_fx, on inputs of
  several dtypes and layouts (transposed, strided, broadcast, offset).

Before writing, every case is checked twice: the oracle's evaluation of the
exported graph equals the recorded outputs, and those equal the original
module or function run eagerly. Usage:

    /usr/bin/python3 tools/capture_graphs.py [--out DIR] [--check]

--check writes nothing and exits 1 if the files in DIR differ from a fresh
capture.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.fx.experimental.proxy_tensor import make_fx  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402

from kiln.fx_export import export_graph  # noqa: E402
from kiln.tensors import clone_preserving_layout  # noqa: E402
from kiln.testing.captured import CapturedGraph, save  # noqa: E402
from kiln.testing.torch_oracle import assert_close, assert_outputs_close, evaluate, make_tensor  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "tests", "data", "graphs")


def _functional_call(module: nn.Module, params: Dict[str, torch.Tensor], args: Tuple[Any, ...]) -> Any:
    func = getattr(getattr(torch, "func", None), "functional_call", None)
    if func is None:  # torch 1.13
        from torch.nn.utils.stateless import functional_call as func
    return func(module, params, args)


def _copy(value: Any) -> Any:
    """A snapshot of a runtime value (same layout, requires_grad kept)."""
    if not isinstance(value, torch.Tensor):
        return value
    out = clone_preserving_layout(value)
    if value.requires_grad and out.is_floating_point():
        out.requires_grad_(True)
    return out


class AotRecorder:
    """fw_compiler / bw_compiler for aot_function that run the graph as it
    is and keep (graph module, inputs, outputs) of its first call."""

    def __init__(self) -> None:
        self.calls: Dict[str, Tuple[torch.fx.GraphModule, List[Any], List[Any]]] = {}

    def compiler(self, kind: str) -> Callable[[torch.fx.GraphModule, Any], Any]:
        from functorch.compile import make_boxed_func

        def compile_graph(gm: torch.fx.GraphModule, example_inputs: Any) -> Any:
            def run(*args: Any) -> Any:
                inputs = [_copy(a) for a in args]
                outputs = gm(*args)
                if kind not in self.calls:
                    flat, _ = tree_flatten(list(outputs))
                    self.calls[kind] = (gm, inputs, [_copy(o).detach() if isinstance(o, torch.Tensor) else o for o in flat])
                return outputs

            return make_boxed_func(run)

        return compile_graph

    def aot(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        from functorch.compile import aot_function

        return aot_function(
            fn,
            fw_compiler=self.compiler("fw"),
            bw_compiler=self.compiler("bw"),
            partition_fn=_sorted_partition,
        )


def _sorted_partition(joint_module: torch.fx.GraphModule, joint_inputs: Any, **kwargs: Any) -> Any:
    """aot_function's default partition with the saved tensors in forward
    graph order. The default orders them by iterating a set of nodes, which
    differs from run to run; the forward's outputs and the backward's inputs
    are permuted together, so the pair computes the same."""
    from functorch.compile import default_partition

    fw, bw = default_partition(joint_module, joint_inputs, **kwargs)
    bw_inputs = [n for n in bw.graph.nodes if n.op == "placeholder"]
    saved = [n for n in bw_inputs if not n.name.startswith("tangents")]
    fw_output = next(n for n in fw.graph.nodes if n.op == "output")
    outs = list(fw_output.args[0])
    tail = outs[len(outs) - len(saved):] if saved else []
    if [getattr(n, "name", None) for n in tail] != [n.name for n in saved]:
        return fw, bw  # not the layout this expects: leave it alone
    position = {n: i for i, n in enumerate(fw.graph.nodes)}
    order = sorted(range(len(saved)), key=lambda i: position[tail[i]])
    fw_output.args = (outs[: len(outs) - len(saved)] + [tail[i] for i in order],)
    anchor = next(n for n in bw.graph.nodes if n.op != "placeholder")
    for node in [saved[i] for i in order] + [n for n in bw_inputs if n not in saved]:
        anchor.prepend(node)
    fw.recompile()
    bw.recompile()
    return fw, bw


def _case(name: str, gm: torch.fx.GraphModule, inputs: List[Any], outputs: List[Any]) -> CapturedGraph:
    graph = export_graph(gm, inputs)
    case = CapturedGraph(name=name, graph=graph, inputs=[_copy(i) for i in inputs], expected=outputs)
    # The exported graph, evaluated by the oracle, gives what PyTorch gave.
    assert_outputs_close(evaluate(graph, case.inputs), outputs, rtol=0, atol=0, equal_nan=True)
    return case


def _check_grads(bw_outputs: Sequence[Any], grads: Sequence[Optional[torch.Tensor]], what: str) -> None:
    for i, (got, want) in enumerate(zip(bw_outputs, grads)):
        assert_close(got, want, scale=10.0, name=f"{what} gradient {i}")


# -- (a) MLP -------------------------------------------------------------------


def capture_mlp() -> List[CapturedGraph]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    params = dict(mlp.named_parameters())
    x = torch.randn(6, 8)
    target = torch.randint(0, 4, (6,))

    def step(params: Dict[str, torch.Tensor], x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(_functional_call(mlp, params, (x,)), target)

    recorder = AotRecorder()
    loss = recorder.aot(step)(params, x, target)
    loss.backward()
    grads = [p.grad.clone() for p in params.values()]

    # The original module, eagerly.
    mlp.zero_grad()
    eager_loss = F.cross_entropy(mlp(x), target)
    eager_loss.backward()
    eager_grads = [p.grad for p in mlp.parameters()]
    fw = _case("mlp_fw", *recorder.calls["fw"])
    bw = _case("mlp_bw", *recorder.calls["bw"])
    assert_close(fw.expected[0], eager_loss.detach(), scale=10.0, name="mlp loss")
    _check_grads(bw.expected, eager_grads, "mlp")
    _check_grads(grads, eager_grads, "mlp (aot)")
    return [fw, bw]


# -- (b) TransformerEncoderLayer -----------------------------------------------


def _capture_transformer(prefix: str, train: bool, **layer_kwargs: Any) -> List[CapturedGraph]:
    torch.manual_seed(1)
    layer = nn.TransformerEncoderLayer(
        d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True, **layer_kwargs
    )
    layer.train(train)
    params = dict(layer.named_parameters())
    x = torch.randn(2, 5, 16, requires_grad=True)
    grad_out = torch.randn(2, 5, 16)
    extra: Tuple[Any, ...] = ()
    if not train:
        extra = (nn.Transformer.generate_square_subsequent_mask(5),)

    def forward(params: Dict[str, torch.Tensor], x: torch.Tensor, *mask: torch.Tensor) -> torch.Tensor:
        return _functional_call(layer, params, (x,) + mask)

    recorder = AotRecorder()
    out = recorder.aot(forward)(params, x, *extra)
    out.backward(grad_out)

    # The original module, eagerly. Parameters (and x) require grad, so the
    # eval-mode fast path (a single fused op) is not taken here either.
    layer.zero_grad()
    x_eager = x.detach().clone().requires_grad_(True)
    eager_out = layer(x_eager, *extra)
    eager_out.backward(grad_out)
    eager_grads = [p.grad for p in layer.parameters()] + [x_eager.grad]

    fw = _case(f"{prefix}_fw", *recorder.calls["fw"])
    bw = _case(f"{prefix}_bw", *recorder.calls["bw"])
    assert_close(fw.expected[0], eager_out.detach(), scale=10.0, name=f"{prefix} output")
    _check_grads(bw.expected, eager_grads, prefix)
    return [fw, bw]


def capture_transformer() -> List[CapturedGraph]:
    return _capture_transformer("transformer", train=True) + _capture_transformer(
        "transformer_prenorm", train=False, norm_first=True, activation="gelu"
    )


# -- (c) functions through make_fx ----------------------------------------------


def _pointwise(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    a = torch.where(x > 0, F.gelu(x * y + 1), torch.sigmoid(z) - torch.tanh(x)).clamp(-2.0, 2.0)
    b = torch.exp(-torch.abs(y)) + torch.rsqrt(x * x + 1) - F.leaky_relu(z, 0.1)
    c = torch.div(x, y.abs() + 1, rounding_mode="floor") + torch.maximum(x, z) * torch.pow(y, 2)
    return a, b, c, torch.log1p(x.abs()) / (1.0 + torch.sqrt(y.abs()))


def _reductions(x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    values, indices = x.max(dim=1)
    return (
        x.sum(dim=1, keepdim=True),
        x.mean(dim=0),
        x.amax(dim=-1),
        torch.var(x, dim=1),
        x.argmax(dim=1),
        x.sum(dtype=torch.float64),
        values,
        indices,
        (x > 2).any(),
    )


def _softmax(x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    return torch.softmax(x, dim=-1), torch.log_softmax(x, dim=0)


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, [8], w, b, eps=1e-5)


def _low_precision(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    return (
        a * 2 + 1,
        a.sum(-1),
        a.amax(0),
        torch.sigmoid(b) * F.gelu(b),
        b.float().softmax(-1).to(torch.bfloat16),
        b @ b.t(),
        a.to(torch.float32) + b.to(torch.float32),
    )


def _int_bool(i: torch.Tensor, j: torch.Tensor, m: torch.Tensor, u: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    return (
        (i + j) * 3,
        i > j,
        torch.logical_and(m, i > 0),
        torch.bitwise_xor(i, j.to(torch.int32)),
        torch.where(m, i, j),
        torch.remainder(j, 4),
        torch.div(j, 3, rounding_mode="floor"),
        u + 7,
        torch.logical_not(m),
        (i * 0.5).sum(dim=0),
    )


def _views(x: torch.Tensor, idx: torch.Tensor, table: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    p = x.permute(2, 0, 1).reshape(4, 6)
    s = x[:, 1:3].unsqueeze(0).expand(2, 2, 2, 4)
    cat = torch.cat([x[0], x[1]], dim=0)
    picked = torch.index_select(cat, 0, idx)
    emb = F.embedding(idx, table)
    gathered = torch.gather(cat, 1, idx.unsqueeze(1).expand(3, 4) % 4)
    padded = F.pad(x, (1, 2))
    return p * 2, s + 1, picked, emb, gathered, padded, x.transpose(0, 1).contiguous(), x.split([1, 2], dim=1)[1]


def _creation(x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    return (
        x + torch.arange(4, dtype=torch.float32),
        torch.zeros(2, 4) + torch.ones_like(x)[0],
        torch.full((3, 4), 1.5) * x,
        torch.zeros_like(x, dtype=torch.int64) + 1,
    )


def _empty_dims(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    return x + y, x.sum(dim=0), torch.cat([x, y], dim=0), z * 2, z.sum(), y.expand(4, 3) - 1


_FUNCTIONS: List[Tuple[str, Callable[..., Any], Callable[[], List[torch.Tensor]]]] = [
    (
        "pointwise",
        _pointwise,
        lambda: [
            make_tensor([4, 8], torch.float32, seed=1),
            make_tensor([4, 8], torch.float32, layout="transposed", seed=2),
            make_tensor([4, 8], torch.float32, layout="broadcast", seed=3),
        ],
    ),
    ("reductions", _reductions, lambda: [make_tensor([4, 6], torch.float32, layout="strided", seed=4)]),
    ("softmax", _softmax, lambda: [make_tensor([3, 7], torch.float32, layout="offset", seed=5)]),
    (
        "layer_norm",
        _layer_norm,
        lambda: [
            make_tensor([2, 3, 8], torch.float32, seed=6),
            make_tensor([8], torch.float32, seed=7),
            make_tensor([8], torch.float32, seed=8),
        ],
    ),
    (
        "low_precision",
        _low_precision,
        lambda: [
            make_tensor([4, 5], torch.float16, seed=9),
            make_tensor([4, 5], torch.bfloat16, layout="transposed", seed=10),
        ],
    ),
    (
        "int_bool",
        _int_bool,
        lambda: [
            make_tensor([3, 4], torch.int32, seed=11),
            make_tensor([3, 4], torch.int64, layout="strided", seed=12),
            make_tensor([3, 4], torch.bool, seed=13),
            make_tensor([3, 4], torch.uint8, seed=14),
        ],
    ),
    (
        "views",
        _views,
        lambda: [
            make_tensor([2, 3, 4], torch.float32, seed=15),
            torch.tensor([2, 0, 5]),
            make_tensor([6, 5], torch.float32, seed=16),
        ],
    ),
    ("creation", _creation, lambda: [make_tensor([3, 4], torch.float32, seed=17)]),
    (
        "empty_dims",
        _empty_dims,
        lambda: [
            make_tensor([0, 3], torch.float32, seed=18),
            make_tensor([1, 3], torch.float32, seed=19),
            make_tensor([1, 1], torch.float32, seed=20),
        ],
    ),
]


def capture_functions() -> List[CapturedGraph]:
    cases = []
    for name, fn, make_inputs in _FUNCTIONS:
        inputs = make_inputs()
        gm = make_fx(fn)(*inputs)
        expected, _ = tree_flatten(fn(*inputs))
        cases.append(_case(name, gm, inputs, [e.detach() for e in expected]))
    return cases


def capture_all() -> List[CapturedGraph]:
    """Every case, in a fixed order."""
    return capture_mlp() + capture_transformer() + capture_functions()


def ops_table(cases: Sequence[CapturedGraph]) -> Dict[str, List[str]]:
    """ATen target -> names of the graphs that use it."""
    table: Dict[str, List[str]] = {}
    for case in cases:
        for node in case.graph.nodes:
            users = table.setdefault(node.target, [])
            if case.name not in users:
                users.append(case.name)
    return dict(sorted(table.items()))


def ops_text(cases: Sequence[CapturedGraph]) -> str:
    table = ops_table(cases)
    lines = [
        "# The distinct ATen ops in tests/data/graphs/*.pb (written by tools/capture_graphs.py",
        f"# with torch {torch.__version__}). One op per line: target, then the graphs using it.",
    ]
    width = max(len(op) for op in table)
    lines += [f"{op:<{width}}  {' '.join(users)}" for op, users in table.items()]
    return "\n".join(lines) + "\n"


def write(cases: Sequence[CapturedGraph], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for case in cases:
        save(case, out)
    with open(os.path.join(out, "OPS.txt"), "w") as f:
        f.write(ops_text(cases))


def _same_files(a: str, b: str) -> List[str]:
    differ = []
    names = sorted(set(os.listdir(a)) | set(os.listdir(b)))
    for name in names:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            differ.append(name)
            continue
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            if fa.read() != fb.read():
                differ.append(name)
    return differ


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: tests/data/graphs)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    cases = capture_all()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            write(cases, tmp)
            differ = _same_files(tmp, args.out)
        if differ:
            print(f"differ from a fresh capture: {', '.join(differ)}")
            return 1
        print(f"{len(cases)} cases match {args.out}")
        return 0
    write(cases, args.out)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {len(cases)} cases ({total} bytes) to {args.out}")
    for case in cases:
        print(f"  {case.name:24} {len(case.graph.placeholders):3} inputs {len(case.graph.nodes):4} nodes")
    print(ops_text(cases), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
