#!/usr/bin/python3
"""The compiler benchmark: compile latency per graph and kernel time of the
CPU backend against PyTorch eager on the same CPU, in one command.

    make bench-compiler
    # or: /usr/bin/python3 tools/bench_compiler.py [--threads N] [--bin DIR]

For each case the script traces a PyTorch function to an ATen graph
(make_fx, or functorch's aot_function for the MLP training step), exports
it (kiln.fx_export), and hands graph and inputs to the C++ half,
``compiler_bench`` (bazel-bin/compiler/backends/cpu/compiler_bench), which
compiles it with the CPU backend (verify + passes + codegen + host
compile), loads the artifact bytes again (warm load) and times
``Executable::Run``. The same function then runs in PyTorch eager in this
process, with the same inputs and thread count. Each case is timed in
--rounds rounds alternating Kiln (loading the artifact compiled in round
one) and eager; a round runs at least --repeats calls and --min-time-ms.
The table gives the median over all rounds' medians and the best single
call of each; ratios are Kiln / eager (below 1: Kiln is faster). On a busy
machine the best times are the steadier comparison. The compile-latency
table also covers the captured MLP and TransformerEncoderLayer graphs of
tests/data/graphs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.fx.experimental.proxy_tensor import make_fx  # noqa: E402

from kiln import proto  # noqa: E402
from kiln.fx_export import export_graph  # noqa: E402
from kiln.tensors import to_proto_tensor  # noqa: E402


def encode_inputs(inputs: Sequence[Any]) -> "proto.ExecuteRequest":
    request = proto.ExecuteRequest()
    for value in inputs:
        item = request.inputs.add()
        if isinstance(value, torch.Tensor):
            item.tensor.CopyFrom(to_proto_tensor(value.detach()))
        elif isinstance(value, bool):
            item.bool_value = value
        elif isinstance(value, int):
            item.int_value = value
        elif isinstance(value, float):
            item.float_value = value
        else:
            item.none.SetInParent()
    return request


def time_eager(fn: Callable[[], Any], repeats: int, min_time_ms: float) -> Tuple[float, float]:
    """(median, minimum) microseconds of fn() after one warm-up call."""
    fn()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start) * 1e3 < min_time_ms:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times), min(times)


# --------------------------------------------------------------------------
# Cases: (name, description, function, inputs).

def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pointwise_cases() -> List[Tuple[str, str, Callable[..., Any], List[torch.Tensor]]]:
    x = torch.randn(2048, 2048, generator=_g(1))
    y = torch.randn(2048, 2048, generator=_g(2))
    b = torch.randn(2048, generator=_g(3))
    return [
        ("pointwise_chain", "sigmoid(x*y) * tanh(x-y) + x, f32[2048, 2048]",
         lambda x, y: torch.sigmoid(x * y) * torch.tanh(x - y) + x, [x, y]),
        ("bias_gelu", "gelu(x + b), f32[2048, 2048] + f32[2048]",
         lambda x, b: F.gelu(x + b), [x, b]),
        ("add_relu_bf16", "relu(x + y), bf16[2048, 2048]",
         lambda x, y: torch.relu(x + y), [x.bfloat16(), y.bfloat16()]),
        ("mul_add_f16", "x * y + x, f16[2048, 2048]",
         lambda x, y: x * y + x, [x.half(), y.half()]),
    ]


def reduction_cases() -> List[Tuple[str, str, Callable[..., Any], List[torch.Tensor]]]:
    x = torch.randn(2048, 2048, generator=_g(4))
    return [
        ("sum_rows", "x.sum(-1), f32[2048, 2048]", lambda x: x.sum(-1), [x]),
        ("sum_cols", "x.sum(0), f32[2048, 2048]", lambda x: x.sum(0), [x]),
        ("amax_rows", "x.amax(-1), f32[2048, 2048]", lambda x: x.amax(-1), [x]),
        ("var_rows", "x.var(-1), f32[2048, 2048]", lambda x: x.var(-1), [x]),
        ("sum_exp", "exp(x).sum(-1) (fused prologue), f32[2048, 2048]",
         lambda x: torch.exp(x).sum(-1), [x]),
    ]


def norm_cases() -> List[Tuple[str, str, Callable[..., Any], List[torch.Tensor]]]:
    x = torch.randn(4096, 1024, generator=_g(5))
    s = torch.randn(1024, generator=_g(6))
    w = torch.randn(1024, generator=_g(7))
    b = torch.randn(1024, generator=_g(8))
    return [
        ("softmax", "softmax(x, -1), f32[4096, 1024]", lambda x: torch.softmax(x, -1), [x]),
        ("log_softmax", "log_softmax(x, -1), f32[4096, 1024]",
         lambda x: torch.log_softmax(x, -1), [x]),
        ("scaled_softmax", "softmax(x * s, -1) (fused prologue), f32[4096, 1024]",
         lambda x, s: torch.softmax(x * s, -1), [x, s]),
        ("layer_norm", "layer_norm(x, [1024], w, b), f32[4096, 1024]",
         lambda x, w, b: F.layer_norm(x, [1024], w, b), [x, w, b]),
        ("residual_layer_norm", "layer_norm(x + y, ...) (fused prologue), f32[4096, 1024]",
         lambda x, y, w, b: F.layer_norm(x + y, [1024], w, b), [x, x.flip(0).contiguous(), w, b]),
    ]


class MlpStep:
    """Linear(1024, 1024)-ReLU-Linear(1024, 16) with cross-entropy on a batch
    of 512: forward and backward graphs from aot_function."""

    def __init__(self) -> None:
        from capture_graphs import AotRecorder

        torch.manual_seed(9)
        self.model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 16))
        self.x = torch.randn(512, 1024, generator=_g(10))
        self.target = torch.randint(0, 16, (512,), generator=_g(11))
        self.params = [p.detach().clone().requires_grad_() for p in self.model.parameters()]

        def step(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            h = torch.relu(F.linear(x, w1, b1))
            return F.cross_entropy(F.linear(h, w2, b2), t)

        self.step = step
        self.recorder = AotRecorder()
        loss = self.recorder.aot(step)(*self.params, self.x, self.target)
        loss.backward()

    def graphs(self) -> List[Tuple[str, "proto.Graph", List[Any]]]:
        out = []
        for kind in ("fw", "bw"):
            gm, inputs, _ = self.recorder.calls[kind]
            out.append((f"mlp_step_{kind}", export_graph(gm, inputs), inputs))
        return out

    def eager(self) -> None:
        params = [p.detach().requires_grad_() for p in self.params]
        loss = self.step(*params, self.x, self.target)
        loss.backward()


# --------------------------------------------------------------------------

def run_bench(binary: str, graph: "proto.Graph", inputs: Sequence[Any] | None, threads: int,
              repeats: int, min_time_ms: float, tmp: str, name: str, load: bool = False) -> Dict[str, Any]:
    """compiler_bench on one graph; with `load`, the artifact saved by an
    earlier call is loaded instead of compiled."""
    graph_path = os.path.join(tmp, f"{name}.pb")
    artifact = os.path.join(tmp, f"{name}.kart")
    if not load:
        with open(graph_path, "wb") as f:
            f.write(graph.SerializeToString())
    cmd = [binary, f"--graph={graph_path}", f"--threads={threads}", f"--repeats={repeats}",
           f"--min_time_ms={min_time_ms}", f"--artifact={artifact}" if load else f"--save_artifact={artifact}"]
    if inputs is not None:
        inputs_path = os.path.join(tmp, f"{name}.in.pb")
        if not load:
            with open(inputs_path, "wb") as f:
                f.write(encode_inputs(inputs).SerializeToString())
        cmd.append(f"--inputs={inputs_path}")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: {result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def timed_rounds(rounds: int, kiln_round: Callable[[int], Tuple[float, float]],
                 eager_round: Callable[[], Tuple[float, float]]) -> Tuple[float, float, float, float]:
    """Alternating rounds: (Kiln median, Kiln best, eager median, eager best)."""
    km, kb, em, eb = [], [], [], []
    for r in range(rounds):
        m, b = kiln_round(r)
        km.append(m)
        kb.append(b)
        m, b = eager_round()
        em.append(m)
        eb.append(b)
    return statistics.median(km), min(kb), statistics.median(em), min(eb)


def machine() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return (f"{model}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
            f"{gxx}; torch {torch.__version__}")


def ms(us: float) -> str:
    return f"{us / 1000:.2f}" if us < 100000 else f"{us / 1000:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("KILN_BIN_DIR", os.path.join(ROOT, "bazel-bin")),
                        help="Bazel's bin folder (holds compiler/backends/cpu/compiler_bench)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--min-time-ms", type=float, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    binary = os.path.join(args.bin, "compiler", "backends", "cpu", "compiler_bench")
    if not os.path.exists(binary):
        print(f"bench_compiler: {binary} not found; build //compiler/backends/cpu:compiler_bench", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    only = set(filter(None, args.only.split(",")))

    kernel_rows: List[Tuple[str, str, Dict[str, Any], Tuple[float, float, float, float]]] = []
    compile_rows: List[Tuple[str, Dict[str, Any]]] = []
    bench = dict(threads=args.threads, repeats=args.repeats, min_time_ms=args.min_time_ms)
    with tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp:
        for name, desc, fn, inputs in pointwise_cases() + reduction_cases() + norm_cases():
            if only and name not in only:
                continue
            graph = export_graph(make_fx(fn)(*inputs), inputs)
            first: Dict[str, Any] = {}

            def kiln_round(r: int, name: str = name, graph: Any = graph, inputs: Any = inputs) -> Tuple[float, float]:
                k = run_bench(binary, graph, inputs, tmp=tmp, name=name, load=r > 0, **bench)
                if r == 0:
                    first.update(k)
                return k["run_us"], k["run_us_min"]

            def eager_round(fn: Any = fn, inputs: Any = inputs) -> Tuple[float, float]:
                with torch.no_grad():
                    return time_eager(lambda: fn(*inputs), args.repeats, args.min_time_ms)

            times = timed_rounds(args.rounds, kiln_round, eager_round)
            kernel_rows.append((name, desc, first, times))
            compile_rows.append((name, first))
            print(f"{name}: kiln {ms(times[0])} ms (best {ms(times[1])}), eager {ms(times[2])} ms "
                  f"(best {ms(times[3])})", file=sys.stderr)
        if not only or "mlp_step" in only:
            mlp = MlpStep()
            graphs = mlp.graphs()
            first_mlp: Dict[str, Any] = {"run_us": 0.0, "kernels": 0, "launches": 0, "nodes": 0}

            def mlp_round(r: int) -> Tuple[float, float]:
                med, best = 0.0, 0.0
                for name, graph, inputs in graphs:
                    k = run_bench(binary, graph, inputs, tmp=tmp, name=name, load=r > 0, **bench)
                    if r == 0:
                        compile_rows.append((name, k))
                        for key in ("kernels", "launches", "nodes"):
                            first_mlp[key] += k[key]
                    med += k["run_us"]
                    best += k["run_us_min"]
                return med, best

            times = timed_rounds(args.rounds, mlp_round,
                                 lambda: time_eager(mlp.eager, args.repeats, args.min_time_ms))
            kernel_rows.append(("mlp_step", "Linear(1024,1024)-ReLU-Linear(1024,16) + cross-entropy, "
                                "batch 512, forward + backward", first_mlp, times))
            print(f"mlp_step: kiln {ms(times[0])} ms, eager {ms(times[2])} ms", file=sys.stderr)
        if not only:
            from kiln.testing.captured import load

            for case in ("mlp_fw", "mlp_bw", "transformer_fw", "transformer_bw"):
                captured = load(os.path.join(ROOT, "tests", "data", "graphs"), case)
                compile_rows.append((f"captured {case}", run_bench(
                    binary, captured.graph, None, tmp=tmp, name=case, **bench)))

    print(f"Machine: {machine()}; {args.threads} thread(s) for both Kiln and PyTorch.\n")
    print(f"Kernel time per call, ms: the median over {args.rounds} alternating rounds of at least "
          f"{args.repeats} calls and {args.min_time_ms:.0f} ms each, and the best call; ratio = Kiln / eager "
          "(below 1: Kiln is faster).\n")
    print("| case | what | nodes → kernels | Kiln median | eager median | ratio | Kiln best | eager best | "
          "best ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    ratios, best_ratios = [], []
    for name, desc, kiln, (km, kb, em, eb) in kernel_rows:
        ratios.append(km / em)
        best_ratios.append(kb / eb)
        print(f"| {name} | {desc} | {kiln['nodes']} → {kiln['launches']} | {ms(km)} | {ms(em)} | "
              f"{km / em:.2f} | {ms(kb)} | {ms(eb)} | {kb / eb:.2f} |")
    if ratios:
        print(f"\nMedian ratio: {statistics.median(ratios):.2f} (best times: "
              f"{statistics.median(best_ratios):.2f}); geometric mean {statistics.geometric_mean(ratios):.2f} "
              f"({statistics.geometric_mean(best_ratios):.2f}).\n")
    print("Compile latency (ms; compile = verify + passes + codegen + host compile; "
          "load = warm load of the artifact bytes, median):\n")
    print("| graph | nodes → kernels (distinct) | verify | passes | codegen | host compile | "
          "compile total | load | artifact KiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, k in compile_rows:
        print(f"| {name} | {k['nodes']} → {k['launches']} ({k['kernels']}) | {ms(k['verify_us'])} | "
              f"{ms(k['passes_us'])} | {ms(k['codegen_us'])} | {ms(k['host_compile_us'])} | "
              f"{ms(k['compile_us'])} | {ms(k['load_us'])} | {k['artifact_bytes'] / 1024:.0f} |")
    totals = [k["compile_us"] for _, k in compile_rows]
    if totals:
        print(f"\nMedian compile: {ms(statistics.median(totals))} ms; median warm load: "
              f"{ms(statistics.median(k['load_us'] for _, k in compile_rows))} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
