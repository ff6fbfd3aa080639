"""The differential-testing harness itself (kiln_harness.py): the driver's
introspection, exact layouts and value kinds through kiln-run, errors,
merged batches, crash and timeout handling, and comparisons that fail when
they should."""

from __future__ import annotations

import os
import pathlib
import re
import stat
import subprocess
import tempfile
from typing import Any, List

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from conftest import KNOWN_BACKENDS
from kiln import proto
from kiln.fx_export import export_graph, tensor_meta
from kiln.testing.torch_oracle import evaluate, make_tensor
from kiln_harness import (
    KilnRun,
    KilnRunError,
    check_graph,
    compare_mutations,
    compare_outputs,
    decode_outputs,
    eager_outputs,
    encode_inputs,
    is_mergeable,
    merge_graphs,
)


def _graph(fn: Any, *inputs: Any) -> "proto.Graph":
    return export_graph(make_fx(fn)(*inputs), list(inputs))


@pytest.mark.parametrize("name", KNOWN_BACKENDS)
def test_known_backend_is_offered(name: str, kiln: KilnRun) -> None:
    """Backend-parametrized tests run on what the driver offers; a planned
    backend it does not offer yet is reported here, once."""
    offered = kiln.backends()
    if name == "interpreter":
        assert offered[0] == "interpreter"
    elif name not in offered:
        pytest.skip(
            f"kiln-run does not offer --backend={name} yet (offers: {', '.join(offered)}); "
            "every backend-parametrized test runs on it as soon as it does"
        )


def test_registry_listing(kiln: KilnRun) -> None:
    ops = kiln.ops()
    add = ops["aten::add.Tensor"]
    assert (add.packet, add.overload, add.category) == ("add", "Tensor", "pointwise")
    assert add.schema.startswith("aten::add.Tensor(Tensor self, Tensor other")
    assert all(name == op.name for name, op in ops.items())


def test_layouts_and_values_round_trip(backend: str, kiln: KilnRun) -> None:
    x = make_tensor([3, 4], torch.float32, layout="transposed", seed=1)
    y = make_tensor([4], torch.float64, layout="strided", seed=2)
    z = make_tensor([2, 3], torch.int32, layout="offset", seed=3)
    w = make_tensor([2, 3], torch.bool, seed=4)
    graph = _graph(lambda x, y, z, w: (x * y, z.neg(), z.view(6), w.logical_not()), x, y, z, w)
    out = check_graph(kiln, graph, [x, y, z, w], backend=backend)
    assert out[0].dtype == torch.float64 and out[0].stride() == (1, 3)  # TensorIterator follows x's layout
    assert out[1].dtype == torch.int32 and out[2].shape == (6,)
    assert out[3].dtype == torch.bool


def test_symint_and_scalar_inputs(backend: str, kiln: KilnRun) -> None:
    graph = proto.Graph()
    graph.placeholders.add(name="x").tensor.CopyFrom(tensor_meta(torch.ones(2)))
    graph.placeholders.add(name="a").scalar.kind = proto.SCALAR_KIND_FLOAT
    node = graph.nodes.add(name="mul", target="aten::mul.Scalar")
    node.args.add().ref.node = "x"
    node.args.add().ref.node = "a"
    node.outputs.add().tensor.CopyFrom(graph.placeholders[0].tensor)
    graph.outputs.add().ref.node = "mul"
    graph.outputs.add().none.SetInParent()
    out = kiln.run(graph, [torch.tensor([1.5, -2.0]), 4.0], backend=backend)
    assert out[0].tolist() == [6.0, -8.0] and out[1] is None


def test_refusals_carry_code_and_path(backend: str, kiln: KilnRun) -> None:
    x = torch.ones(2, 3)
    graph = _graph(lambda x: x.neg(), x)
    graph.nodes[0].target = "aten::frobnicate.default"
    with pytest.raises(KilnRunError) as err:
        kiln.run(graph, [x], backend=backend)
    assert err.value.code == "INVALID_ARGUMENT"
    assert "unknown op aten::frobnicate.default" in err.value.message
    with pytest.raises(KilnRunError, match="takes 1 inputs, got 0"):
        kiln.run(_graph(lambda x: x.neg(), x), [], backend=backend)
    with pytest.raises(KilnRunError, match="unknown backend"):
        kiln.run(_graph(lambda x: x.neg(), x), [x], backend="no-such-backend")


def test_merged_batches_keep_each_result(backend: str, kiln: KilnRun) -> None:
    jobs = []
    for i in range(10):
        x = make_tensor([i % 3 + 1, 2], torch.float32, seed=i)
        jobs.append((_graph(lambda x: (x.abs(), x * x), x), [x]))
    bad = _graph(lambda x: x.neg(), jobs[0][1][0])
    bad.nodes[0].target = "aten::frobnicate.default"
    jobs.insert(4, (bad, jobs[0][1]))
    before = kiln.runs
    results = kiln.run_many(jobs, backend=backend, max_merge=16)
    assert isinstance(results[4], KilnRunError) and "frobnicate" in results[4].message
    for i, ((graph, inputs), result) in enumerate(zip(jobs, results)):
        if i != 4:
            assert compare_outputs(result, evaluate(graph, inputs)) is None
    # One merged run fails, then bisection: far fewer runs than 11 single ones
    # would need... but more than one.
    assert 1 < kiln.runs - before < 11
    ok = kiln.runs
    kiln.run_many([j for i, j in enumerate(jobs) if i != 4], backend=backend)
    assert kiln.runs - ok == 1


def test_merge_graphs_renames_per_part() -> None:
    x = torch.ones(2)
    a = _graph(lambda x: x.neg(), x)
    b = _graph(lambda x, y: (x + y, x), x, torch.ones(2))
    merged, n_in, n_out = merge_graphs([a, b])
    assert (n_in, n_out) == ([1, 2], [1, 2])
    assert [p.name for p in merged.placeholders] == ["g0_x_1", "g1_x_1", "g1_y_1"]
    assert [n.name for n in merged.nodes] == ["g0_neg", "g1_add"]
    assert [o.ref.node for o in merged.outputs] == ["g0_neg", "g1_add", "g1_x_1"]
    assert evaluate(merged, [x, x, 2 * x])[1].tolist() == [3.0, 3.0]
    symbolic = export_graph(make_fx(lambda x: x.neg(), tracing_mode="symbolic")(x))
    assert not is_mergeable(symbolic)
    with pytest.raises(ValueError, match="symbolic sizes"):
        merge_graphs([a, symbolic])


def _fake_driver(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    """A stand-in kiln-run: a shell script answering --list_* and running
    ``body`` for each batch line."""
    script = tmp_path / "kiln-run"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in --list_backends) echo interpreter; exit 0;; --list_ops) exit 0;; esac\n'
        f"while read line; do {body}; done\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_crash_is_an_error_and_the_driver_restarts(tmp_path: pathlib.Path) -> None:
    x = torch.ones(2)
    graph = _graph(lambda x: x.neg(), x)
    flag = tmp_path / "crashed"
    # First line: abort (as a CHECK failure would); afterwards: refuse politely.
    body = f'if [ ! -e {flag} ]; then touch {flag}; echo "F boom" >&2; kill -ABRT $$; fi; echo "error INTERNAL: fine"'
    with KilnRun(_fake_driver(tmp_path, body)) as driver:
        with pytest.raises(KilnRunError) as err:
            driver.run(graph, [x])
        assert err.value.code == "CRASHED"
        assert "killed by signal 6" in err.value.message and "boom" in err.value.message
        with pytest.raises(KilnRunError, match="INTERNAL: fine"):
            driver.run(graph, [x])


def test_a_hang_times_out(tmp_path: pathlib.Path) -> None:
    x = torch.ones(2)
    with KilnRun(_fake_driver(tmp_path, "sleep 30"), timeout=0.5) as driver:
        with pytest.raises(KilnRunError) as err:
            driver.run(_graph(lambda x: x.neg(), x), [x])
        assert err.value.code == "DEADLINE_EXCEEDED"


def test_missing_binary_says_how_to_build(tmp_path: pathlib.Path) -> None:
    driver = KilnRun(tmp_path / "nowhere" / "kiln-run")
    assert not driver.available()
    with pytest.raises(FileNotFoundError, match="bazel build //compiler/tools:kiln-run"):
        driver.backends()
    driver.close()


def test_binary_comes_from_kiln_bin_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("KILN_BIN_DIR", str(tmp_path))
    driver = KilnRun()
    assert driver.binary == tmp_path / "compiler" / "tools" / "kiln-run"
    driver.close()


@pytest.mark.parametrize(
    "actual, expected, message",
    [
        ([torch.ones(2)], [torch.ones(2, dtype=torch.float64)], "dtype"),
        ([torch.ones(2)], [torch.ones(3)], "shape"),
        ([torch.ones(3, 2).t()], [torch.ones(2, 3)], "strides"),
        ([torch.tensor([1.0, 2.0])], [torch.tensor([1.0, 2.001])], "1 of 2 elements"),
        ([torch.tensor([1.0, float("nan")])], [torch.tensor([1.0, 2.0])], "1 of 2 elements"),
        ([torch.tensor([3, 4])], [torch.tensor([3, 5])], "first at \\(1,\\): 4 vs expected 5"),
        ([torch.tensor([True])], [torch.tensor([False])], "1 of 1 elements differ"),
        ([torch.ones(1)], [None], "expected None"),
        ([], [torch.ones(1)], "0 outputs, expected 1"),
    ],
)
def test_comparisons_fail_when_they_should(actual: List[Any], expected: List[Any], message: str) -> None:
    failure = compare_outputs(actual, expected)
    assert failure is not None and re.search(message, failure), failure


def test_comparisons_pass_within_tolerance() -> None:
    assert compare_outputs([torch.tensor([1.0, float("nan")])], [torch.tensor([1.0 + 1e-7, float("nan")])]) is None
    assert compare_outputs([torch.ones(3, 1)], [torch.ones(3, 1).t().t()]) is None  # size-1 strides ignored
    assert compare_outputs([torch.empty(2).fill_(5)], [torch.zeros(2)], values=False) is None
    bf16 = torch.tensor([1.0], dtype=torch.bfloat16)
    assert compare_outputs([bf16 * 1.0078125], [bf16]) is None  # one bfloat16 ulp


def test_check_graph_reports_a_difference(backend: str, kiln: KilnRun) -> None:
    x = torch.tensor([1.0, -2.0])
    graph = _graph(lambda x: x.abs(), x)
    with pytest.raises(AssertionError, match=f"kiln-run --backend={backend} differs from PyTorch eager"):
        check_graph(kiln, graph, [x], backend=backend, expected=[torch.tensor([1.0, -2.0])])


def test_graph_constants_through_kiln_run(backend: str, kiln: KilnRun) -> None:
    """Graph.constants (kiln.v1) on the C++ side: a transposed tensor
    constant with inline data, read by the IR conversion and used by a node."""
    g = torch.fx.Graph()
    x = g.placeholder("x")
    c = g.get_attr("c")
    g.output(g.call_function(torch.ops.aten.mul.Tensor, (x, c)))
    root = torch.nn.Module()
    root.c = make_tensor([2, 3], torch.float32, layout="transposed", seed=4)
    inputs = [make_tensor([2, 3], torch.float32, seed=5)]
    graph = export_graph(torch.fx.GraphModule(root, g), inputs)
    assert len(graph.constants) == 1
    check_graph(kiln, graph, inputs, backend=backend)


def test_per_process_fallback_matches_batch(backend: str, kiln: KilnRun) -> None:
    """The batch process gives what a plain `kiln-run --graph ...` run gives."""
    x = make_tensor([4, 3], torch.float32, layout="transposed", seed=6)
    graph = _graph(lambda x: (x * x).neg(), x)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, n) for n in ("g.pb", "in.pb", "out.pb")]
        pathlib.Path(paths[0]).write_bytes(graph.SerializeToString())
        pathlib.Path(paths[1]).write_bytes(encode_inputs([x]).SerializeToString())
        subprocess.run(
            [str(kiln.binary), f"--graph={paths[0]}", f"--inputs={paths[1]}", f"--outputs={paths[2]}", f"--backend={backend}"],
            check=True,
        )
        response = proto.ExecuteResponse()
        response.ParseFromString(pathlib.Path(paths[2]).read_bytes())
    assert compare_outputs(decode_outputs(response), kiln.run(graph, [x], backend=backend), rtol=0, atol=0) is None


def _copy_into_input(dst: torch.Tensor, src: torch.Tensor) -> "proto.Graph":
    g = torch.fx.Graph()
    d, s = g.placeholder("dst"), g.placeholder("src")
    g.output(g.call_function(torch.ops.aten.copy_.default, (d, g.call_function(torch.ops.aten.neg.default, (s,)))))
    return export_graph(torch.fx.GraphModule(torch.nn.Module(), g), [dst, src])


def test_mutated_inputs_come_back(backend: str, kiln: KilnRun) -> None:
    dst = make_tensor([2, 3], torch.float32, layout="transposed", seed=7)
    src = make_tensor([2, 3], torch.float32, seed=8)
    graph = _copy_into_input(dst, src)
    out = check_graph(kiln, graph, [dst, src], backend=backend)  # outputs and mutations
    assert set(out.mutations) == {0}
    assert torch.equal(out.mutations[0], -src) and out.mutations[0].stride() == dst.stride()
    # Merged batches give each graph its own mutations, renumbered.
    x = torch.ones(2)
    results = kiln.run_many([(_graph(lambda x: x.neg(), x), [x]), (graph, [dst, src])], backend=backend)
    assert results[0].mutations == {} and set(results[1].mutations) == {0}


def test_mutation_comparisons() -> None:
    before = [torch.zeros(2), torch.ones(2)]
    assert compare_mutations({0: torch.ones(2)}, {0: torch.ones(2)}, before) is None
    assert compare_mutations({1: torch.ones(2)}, {}, before) is None  # reported, unchanged
    assert "kiln-run reports no mutation" in compare_mutations({}, {0: torch.ones(2)}, before)
    assert "inputs[1] after the run" in compare_mutations({1: torch.zeros(2)}, {}, before)
    dst, src = torch.zeros(2, 3), torch.ones(2, 3)
    eager = eager_outputs(_copy_into_input(dst, src), [dst, src])
    assert set(eager.mutations) == {0} and eager.mutations[0].tolist() == [[-1.0] * 3] * 2
