"""Mutation after functionalization: ``aten::copy_`` into a graph input.

A functionalized graph ends with ``copy_(input, new_value)`` for each input
the program mutated. kiln-run must return the graph's outputs and, in
``ExecuteResponse.mutations``, the new value of every mutated input with
the input's own sizes and strides, exactly as eager leaves the caller's
tensor."""

from __future__ import annotations

from typing import Any, Callable, List, Sequence

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from kiln import proto
from kiln.fx_export import export_graph
from kiln.tensors import clone_preserving_layout
from kiln.testing.torch_oracle import LAYOUTS, assert_close, make_tensor
from kiln_harness import KilnRun, KilnRunError, compare_outputs
from one_node import DTYPES, check_refused, eager, one_node_graph, run_with_mutations, targets

try:  # torch >= 2.0
    from torch.func import functionalize
except ImportError:  # torch 1.13
    from functorch.experimental import functionalize


def _check_mutations(
    graph: "proto.Graph", inputs: Sequence[Any], want_outputs: Sequence[Any], want_inputs: Sequence[Any],
    backend: str,
) -> None:
    """Runs ``graph`` and compares its outputs and the mutated inputs (every
    input eager changed, with its layout) with eager's."""
    outputs, mutations = run_with_mutations(graph, inputs, backend=backend)
    mismatch = compare_outputs(outputs, want_outputs)
    assert mismatch is None, mismatch
    changed = [i for i, (before, after) in enumerate(zip(inputs, want_inputs))
               if isinstance(before, torch.Tensor) and not torch.equal(before, after)]  # fmt: skip
    assert set(changed) <= set(mutations), f"inputs {changed} changed in eager, kiln reports {sorted(mutations)}"
    for i, value in mutations.items():
        expected = want_inputs[i]
        assert value.stride() == expected.stride() or expected.numel() <= 1, (value.stride(), expected.stride())
        assert value.storage_offset() == expected.storage_offset()
        assert_close(value, expected, name=f"mutated input {i}")


def _eager_run(fn: Callable[..., Any], inputs: Sequence[Any]) -> tuple:
    copies = [clone_preserving_layout(t) if isinstance(t, torch.Tensor) else t for t in inputs]
    result = fn(*copies)
    outputs = list(result) if isinstance(result, (list, tuple)) else [result]
    return outputs, copies


def _add_scale(x: torch.Tensor, y: torch.Tensor) -> tuple:
    x.add_(y)
    x.mul_(2)
    return (y + 1,)


def _overwrite(x: torch.Tensor, y: torch.Tensor) -> tuple:
    s = x.sum()
    x.copy_(y.t())
    y.neg_()
    return (s,)


def _running_stats(mean: torch.Tensor, x: torch.Tensor) -> tuple:
    mean.mul_(0.9).add_(x.mean(0), alpha=0.1)
    return (x - mean,)


@pytest.mark.parametrize("fn,shapes", [
    (_add_scale, [(3, 4), (4,)]),
    (_overwrite, [(3, 4), (4, 3)]),
    (_running_stats, [(4,), (5, 4)]),
])  # fmt: skip
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "offset"])
def test_functionalized_graphs_update_their_inputs(
    backend: str, fn: Callable[..., Any], shapes: List[tuple], layout: str
) -> None:
    inputs = [make_tensor(s, torch.float32, layout=layout if i == 0 else "contiguous", seed=i)
              for i, s in enumerate(shapes)]  # fmt: skip
    gm = make_fx(functionalize(fn))(*[clone_preserving_layout(t) for t in inputs])
    graph = export_graph(gm, [clone_preserving_layout(t) for t in inputs])
    assert "aten::copy_.default" in targets(graph), targets(graph)
    outputs, mutated = _eager_run(fn, inputs)
    _check_mutations(graph, inputs, outputs, mutated, backend)


@pytest.mark.parametrize("to", DTYPES, ids=str)
@pytest.mark.parametrize("layout", [l for l in LAYOUTS if l != "broadcast"])
def test_copy_into_input_per_dtype(kiln: KilnRun, backend: str, to: torch.dtype, layout: str) -> None:
    dst = make_tensor((3, 4), to, layout=layout, seed=1)
    for frm in DTYPES:
        for src in (make_tensor((3, 4), frm, layout="transposed", seed=2), make_tensor((4,), frm, seed=3),
                    make_tensor((1, 4), frm, layout="offset", seed=4)):  # fmt: skip
            after = clone_preserving_layout(dst)
            after.copy_(src)
            graph, inputs = one_node_graph("aten::copy_.default", (dst, src), {}, [after])
            # The node's output aliases the input: it is the new value.
            mismatch = compare_outputs(kiln.run(graph, inputs, backend=backend), [after])
            assert mismatch is None, f"{frm} -> {to}: {mismatch}"
            if frm == torch.float64 and src.dim() == 1:  # one process per case: a few
                _check_mutations(graph, inputs, [after], [after, src], backend)


def test_copy_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    check_refused(kiln, backend, "aten::copy_.default", make_tensor((3, 4), torch.float32, layout="broadcast"),
                  torch.zeros(3, 4),
                  message="unsupported operation: more than one element of the written-to tensor refers to a "
                  "single memory location")  # fmt: skip
    check_refused(kiln, backend, "aten::copy_.default", torch.zeros(3), torch.zeros(1, 3),
                  message="output with shape [3] doesn't match the broadcast shape [1, 3]")  # fmt: skip
    with pytest.raises(RuntimeError, match="must match the size"):
        eager("aten::copy_.default", (torch.zeros(2, 3), torch.zeros(2)))
    graph, inputs = one_node_graph("aten::copy_.default", (torch.zeros(2, 3), torch.zeros(2)), {})
    with pytest.raises(KilnRunError, match="do not broadcast"):
        kiln.run(graph, inputs, backend=backend)


def test_copy_into_an_intermediate_is_refused(kiln: KilnRun, backend: str) -> None:
    # Only graph inputs may be written: intermediates are SSA values.
    graph, inputs = one_node_graph("aten::clone.default", (torch.zeros(2),), {}, [torch.zeros(2)])
    node = graph.nodes.add(name="m", target="aten::copy_.default")
    node.args.add(ref=proto.ValueRef(node="r"))
    node.args.add(ref=proto.ValueRef(node="x0"))
    node.outputs.add().tensor.CopyFrom(graph.nodes[0].outputs[0].tensor)
    with pytest.raises(KilnRunError, match="copy_ writes into 'r', which is not a graph input") as err:
        kiln.run(graph, inputs, backend=backend)
    assert err.value.code == "UNIMPLEMENTED"
