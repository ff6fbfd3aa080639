#!/usr/bin/env python3
"""Generates op_cases.txt: every registered op overload (all pointwise ops
for every dtype; sum, view and mm), with the values PyTorch eager computes
(the expected results of //compiler/ops:op_golden_test). Op families add
their generator function to main().

Run with Debian's python3 and python3-torch (1.13):

    /usr/bin/python3 compiler/ops/testdata/gen_op_cases.py \
        > compiler/ops/testdata/op_cases.txt

Each case is one single-node graph in the IR text format (its output type is
the dtype, sizes and strides PyTorch gives, so the converter's inference is
checked too), its inputs (possibly non-contiguous) and either the expected
tensor or `expect error` when PyTorch refuses the call. Where PyTorch's CPU
kernels lack float16 ("not implemented for 'Half'"), the expected value is
the float32 result of the float16 inputs rounded to float16: ATen computes
float16 in float32 and rounds once, which is what Kiln does on every
backend.
"""

import math
import sys

import torch

A = torch.ops.aten

SHORT = {
    torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32",
    torch.float64: "f64", torch.int8: "i8", torch.int16: "i16",
    torch.int32: "i32", torch.int64: "i64", torch.uint8: "u8",
    torch.bool: "b8",
}
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
INTS = [torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]
ALL = FLOATS + INTS + [torch.bool]


def fmt_float(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def fmt_scalar(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    return fmt_float(v)


def fmt_type(t):
    sizes = ", ".join(str(s) for s in t.shape)
    out = f"{SHORT[t.dtype]}[{sizes}]"
    contiguous = []
    running = 1
    for s in reversed(t.shape):
        contiguous.insert(0, running)
        running *= max(s, 1)
    if list(t.stride()) != contiguous:
        out += "{" + ", ".join(str(s) for s in t.stride()) + "}"
    return out


def fmt_values(t):
    flat = t.detach().reshape(-1)
    if t.dtype in FLOATS:
        return " ".join(fmt_float(v) for v in flat.double().tolist())
    return " ".join(str(int(v)) for v in flat.long().tolist())


def base_values(dtype, n, domain):
    """n values of `dtype` suited to an op's domain."""
    if dtype == torch.bool:
        pool = [True, False, True, True, False, False, True]
    elif dtype == torch.uint8:
        pool = [0, 1, 2, 3, 7, 200, 255, 5, 9]
    elif dtype in INTS:
        pool = [0, 1, -1, 2, -3, 7, -8, 5, 100]
        if dtype == torch.int8:
            pool = [0, 1, -1, 2, -3, 7, -8, 5, 100, -128, 127]
    elif domain == "unit":
        pool = [-1.0, -0.75, -0.5, -0.0, 0.0, 0.25, 0.5, 0.9, 1.0, 1.5, math.nan]
    elif domain == "positive":
        pool = [0.5, 1.0, 2.0, 3.25, 10.0, 0.125, 1e-3, 0.0, -1.0, math.inf,
                math.nan]
    elif domain == "small":
        pool = [-2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, -4.0, math.nan,
                math.inf, -math.inf]
    else:
        pool = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.0, -7.25, 100.0,
                math.nan, math.inf, -math.inf]
    out = [pool[i % len(pool)] for i in range(n)]
    return torch.tensor(out, dtype=torch.float64).to(dtype) if dtype in FLOATS \
        else torch.tensor(out, dtype=dtype)


def layout(values, sizes, kind):
    """A tensor holding `values` (row-major) with sizes and a layout kind:
    contiguous, transposed (the last two dims swapped in memory) or offset
    (inside a larger storage)."""
    t = values.reshape(sizes) if sizes else values.reshape(())
    if kind == "transposed" and len(sizes) >= 2:
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if kind == "offset":
        n = t.numel()
        storage = torch.zeros(n + 3, dtype=t.dtype)
        storage[3:] = t.reshape(-1)
        return storage.as_strided(t.shape, t.contiguous().stride(), 3)
    return t


class Writer:
    def __init__(self):
        self.count = 0
        self.out = sys.stdout

    def case(self, name, params, call, inputs, fn, float_fallback=True,
             opmath_bf16=False):
        """params: IR placeholder list; call: the node's call text; inputs:
        the run-time values (tensors or Python scalars) in placeholder order;
        fn: computes the result in PyTorch from `inputs`."""
        expected = None
        error = None
        reduced = {x.dtype for x in inputs if isinstance(x, torch.Tensor)
                   and x.dtype in FLOATS}
        if opmath_bf16 and reduced == {torch.bfloat16}:
            # PyTorch 1.13's CPU kernel rounds intermediates to bfloat16;
            # ATen's opmath semantics (CUDA, later CPU versions) compute in
            # float32 and round once.
            up = [x.float() if isinstance(x, torch.Tensor) else x
                  for x in inputs]
            inputs_expected = fn(*up).bfloat16()
            return self._write(name, params, call, inputs, inputs_expected,
                               None)
        try:
            expected = fn(*inputs)
        except Exception as e:  # PyTorch refuses the call
            msg = str(e)
            names = {torch.float16: "'Half'", torch.bfloat16: "'BFloat16'"}
            if (float_fallback and len(reduced) == 1 and
                    next(iter(reduced)) in names and
                    "not implemented for " + names[next(iter(reduced))] in msg):
                low = next(iter(reduced))
                up = [x.float() if isinstance(x, torch.Tensor) and
                      x.dtype == low else x for x in inputs]
                try:
                    r = fn(*up)
                    expected = r.to(low) if r.dtype == torch.float32 else r
                except Exception as e2:
                    error = str(e2)
            elif "Expected a value of type 'Tensor'" in msg:
                return  # torch.ops refuses numbers here: never traced
            elif "not implemented for 'Half'" in msg or \
                    "not implemented for 'BFloat16'" in msg:
                return  # a gap of PyTorch's CPU kernels, no reference value
            else:
                error = msg
        self._write(name, params, call, inputs, expected, error)

    def _write(self, name, params, call, inputs, expected, error):
        if expected is not None and expected.dtype not in SHORT:
            return
        self.count += 1
        w = self.out
        w.write(f"case {self.count} {name}\n")
        if expected is not None:
            out_type = fmt_type(expected)
        else:
            first = next(x for x in inputs if isinstance(x, torch.Tensor))
            out_type = fmt_type(first)
        w.write(f"graph({params}) {{\n  %r = {call} : {out_type}\n"
                f"  return (%r)\n}}\n")
        for x in inputs:
            if isinstance(x, torch.Tensor):
                sizes = ",".join(str(s) for s in x.shape)
                strides = ",".join(str(s) for s in x.stride())
                w.write(f"input tensor {SHORT[x.dtype]} sizes={sizes} "
                        f"strides={strides} offset={x.storage_offset()} "
                        f"values={fmt_values(x)}\n")
            elif isinstance(x, bool):
                w.write(f"input bool {int(x)}\n")
            elif isinstance(x, int):
                w.write(f"input int {x}\n")
            else:
                w.write(f"input float {fmt_float(x)}\n")
        if expected is not None:
            sizes = ",".join(str(s) for s in expected.shape)
            w.write(f"expect tensor {SHORT[expected.dtype]} sizes={sizes} "
                    f"values={fmt_values(expected)}\n")
        else:
            w.write("expect error " + error.split("\n")[0][:120] + "\n")
        w.write("end\n")


def tensor_param(name, t):
    return f"%{name}: {fmt_type(t)}"


UNARY = [
    ("abs", "default", "any"), ("neg", "default", "any"),
    ("reciprocal", "default", "positive"), ("exp", "default", "small"),
    ("exp2", "default", "small"), ("expm1", "default", "small"),
    ("log", "default", "positive"), ("log2", "default", "positive"),
    ("log1p", "default", "positive"), ("sqrt", "default", "positive"),
    ("rsqrt", "default", "positive"), ("sin", "default", "any"),
    ("cos", "default", "any"), ("tan", "default", "small"),
    ("asin", "default", "unit"), ("acos", "default", "unit"),
    ("atan", "default", "any"), ("sinh", "default", "small"),
    ("cosh", "default", "small"), ("tanh", "default", "any"),
    ("sigmoid", "default", "any"), ("relu", "default", "any"),
    ("silu", "default", "any"), ("erf", "default", "any"),
    ("floor", "default", "any"), ("ceil", "default", "any"),
    ("round", "default", "any"), ("trunc", "default", "any"),
    ("sign", "default", "any"), ("logical_not", "default", "any"),
    ("bitwise_not", "default", "any"), ("isnan", "default", "any"),
]


def gen_unary(w):
    for op, overload, domain in UNARY:
        fn = getattr(A, op)
        for dtype in ALL:
            for sizes, kind in [((2, 5), "contiguous"), ((3, 4), "transposed"),
                                ((), "contiguous"), ((0, 3), "contiguous"),
                                ((4,), "offset")]:
                n = 1
                for s in sizes:
                    n *= s
                x = layout(base_values(dtype, n, domain), list(sizes), kind)
                w.case(f"{op} {SHORT[dtype]} {kind}",
                       tensor_param("a", x), f"aten::{op}.{overload}(%a)",
                       [x], lambda a, fn=fn: fn(a))
    for dtype in ALL:
        x = layout(base_values(dtype, 6, "any"), [2, 3], "contiguous")
        for approx in ["none", "tanh"]:
            w.case(f"gelu {approx} {SHORT[dtype]}", tensor_param("a", x),
                   f'aten::gelu.default(%a, approximate="{approx}")', [x],
                   lambda a, approx=approx: torch._C._nn.gelu(
                       a, approximate=approx),
                   opmath_bf16=True)
        for slope in [0.01, 0.2, 2]:
            w.case(f"leaky_relu {SHORT[dtype]}", tensor_param("a", x),
                   f"aten::leaky_relu.default(%a, {fmt_scalar(slope)})", [x],
                   lambda a, s=slope: torch._C._nn.leaky_relu(a, s))
        for lo, hi in [(-1, 1), (0.5, 2.5), (0, 2), (-2, -1.5)]:
            w.case(f"hardtanh {SHORT[dtype]}", tensor_param("a", x),
                   f"aten::hardtanh.default(%a, {fmt_scalar(lo)}, "
                   f"{fmt_scalar(hi)})", [x],
                   lambda a, lo=lo, hi=hi: torch._C._nn.hardtanh(a, lo, hi))
        for d in [0, 1, 2, -1]:
            w.case(f"round.decimals {SHORT[dtype]}", tensor_param("a", x),
                   f"aten::round.decimals(%a, decimals={d})", [x],
                   lambda a, d=d: torch.round(a, decimals=d))
        # clamp with scalar bounds (promoting)
        for lo, hi in [(0, 2), (None, 1), (-1, None), (0.5, 1.5), (2, 1),
                       (None, None)]:
            args = f"{fmt_scalar(lo) if lo is not None else 'None'}, " \
                   f"{fmt_scalar(hi) if hi is not None else 'None'}"
            w.case(f"clamp {SHORT[dtype]}", tensor_param("a", x),
                   f"aten::clamp.default(%a, {args})", [x],
                   lambda a, lo=lo, hi=hi: torch.clamp(a, lo, hi))
        w.case(f"clamp_min {SHORT[dtype]}", tensor_param("a", x),
               "aten::clamp_min.default(%a, 0.5)", [x],
               lambda a: torch.clamp_min(a, 0.5))
        w.case(f"clamp_max {SHORT[dtype]}", tensor_param("a", x),
               "aten::clamp_max.default(%a, 1)", [x],
               lambda a: torch.clamp_max(a, 1))


BINARY_TT = [
    ("add", "Tensor"), ("sub", "Tensor"), ("rsub", "Tensor"), ("mul", "Tensor"),
    ("div", "Tensor"), ("floor_divide", "default"), ("pow", "Tensor_Tensor"),
    ("maximum", "default"), ("minimum", "default"), ("fmod", "Tensor"),
    ("remainder", "Tensor"), ("atan2", "default"), ("eq", "Tensor"),
    ("ne", "Tensor"), ("lt", "Tensor"), ("le", "Tensor"), ("gt", "Tensor"),
    ("ge", "Tensor"), ("logical_and", "default"), ("logical_or", "default"),
    ("logical_xor", "default"), ("bitwise_and", "Tensor"),
    ("bitwise_or", "Tensor"), ("bitwise_xor", "Tensor"),
    ("clamp_min", "Tensor"), ("clamp_max", "Tensor"),
]
BINARY_TS = [
    ("add", "Scalar"), ("sub", "Scalar"), ("rsub", "Scalar"), ("mul", "Scalar"),
    ("div", "Scalar"), ("floor_divide", "Scalar"), ("pow", "Tensor_Scalar"),
    ("fmod", "Scalar"), ("remainder", "Scalar"), ("eq", "Scalar"),
    ("ne", "Scalar"), ("lt", "Scalar"), ("le", "Scalar"), ("gt", "Scalar"),
    ("ge", "Scalar"), ("bitwise_and", "Scalar"), ("bitwise_or", "Scalar"),
    ("bitwise_xor", "Scalar"), ("clamp_min", "default"),
    ("clamp_max", "default"),
]
BINARY_ST = [
    ("pow", "Scalar"), ("remainder", "Scalar_Tensor"),
    ("bitwise_and", "Scalar_Tensor"), ("bitwise_or", "Scalar_Tensor"),
    ("bitwise_xor", "Scalar_Tensor"),
]


def overload_fn(op, overload):
    packet = getattr(A, op)
    return getattr(packet, overload)


def divisor_safe(t):
    """Replaces zeros of an integral tensor by 1 (ZeroDivisionError is
    tested separately)."""
    if t.dtype in INTS or t.dtype == torch.bool:
        return torch.where(t == 0, torch.ones_like(t), t)
    return t


def gen_binary(w):
    pairs = [(d, d) for d in ALL] + [
        (torch.int32, torch.float16), (torch.uint8, torch.int8),
        (torch.bool, torch.int64), (torch.float16, torch.bfloat16),
        (torch.float32, torch.float64), (torch.int64, torch.float32),
        (torch.bool, torch.float32), (torch.uint8, torch.bool),
        (torch.int16, torch.int32),
    ]
    for op, overload in BINARY_TT:
        fn = overload_fn(op, overload)
        for da, db in pairs:
            shapes = [((2, 3), (2, 3), "contiguous", "contiguous"),
                      ((2, 3), (3,), "transposed", "contiguous"),
                      ((3, 1), (1, 4), "contiguous", "contiguous"),
                      ((2, 3), (), "contiguous", "contiguous"),
                      ((0, 3), (3,), "contiguous", "contiguous")]
            for sa, sb, ka, kb in shapes:
                na = max(1, math.prod(sa)) if sa else 1
                nb = max(1, math.prod(sb)) if sb else 1
                a = layout(base_values(da, na, "small")[:math.prod(sa)], list(sa), ka)
                b = layout(base_values(db, nb + 3, "small")[3:3 + math.prod(sb)],
                           list(sb), kb)
                if op in ("floor_divide", "fmod", "remainder"):
                    b = divisor_safe(b)
                if op == "pow" and db in INTS + [torch.bool]:
                    b = b.abs() if db != torch.uint8 and db != torch.bool else b
                    b = b.clamp(max=5) if db != torch.bool else b
                params = f"{tensor_param('a', a)}, {tensor_param('b', b)}"
                w.case(f"{op}.{overload} {SHORT[da]} {SHORT[db]} {list(sa)} "
                       f"{list(sb)} {ka}", params,
                       f"aten::{op}.{overload}(%a, %b)", [a, b],
                       lambda x, y, fn=fn: fn(x, y))
        # Traced graphs pass Python numbers for Tensor arguments
        # (`aten.mul.Tensor(x, 2)`): ATen wraps them like scalars.
        if op not in ("clamp_min", "clamp_max"):
            for dtype in ALL:
                a = layout(base_values(dtype, 6, "small"), [2, 3], "transposed")
                for s in [2, -1.5]:
                    w.case(f"{op}.{overload} wrapped number {SHORT[dtype]} {s}",
                           tensor_param("a", a),
                           f"aten::{op}.{overload}(%a, {fmt_scalar(s)})", [a],
                           lambda x, fn=fn, s=s: fn(x, s))
        if op in ("add", "sub", "rsub"):
            for dtype in ALL:
                a = base_values(dtype, 6, "small").reshape(2, 3)
                b = base_values(dtype, 9, "small")[3:].reshape(2, 3)
                for alpha in [2, 0.5, True, -1]:
                    w.case(f"{op} alpha {SHORT[dtype]} {alpha}",
                           f"{tensor_param('a', a)}, {tensor_param('b', b)}",
                           f"aten::{op}.Tensor(%a, %b, alpha={fmt_scalar(alpha)})",
                           [a, b],
                           lambda x, y, op=op, al=alpha: getattr(torch, op)(
                               x, y, alpha=al))
    scalars = [2, -1, 0.5, -2.5, True, False, 3, 300]
    for op, overload in BINARY_TS:
        fn = overload_fn(op, overload)
        for dtype in ALL:
            a = layout(base_values(dtype, 6, "small"), [2, 3], "transposed")
            for s in scalars:
                if op in ("floor_divide", "fmod", "remainder") and s in (0, False):
                    continue
                w.case(f"{op}.{overload} {SHORT[dtype]} {s!r}",
                       tensor_param("a", a),
                       f"aten::{op}.{overload}(%a, {fmt_scalar(s)})", [a],
                       lambda x, op=op, s=s: getattr(torch, op)(x, s))
            if op in ("add", "sub", "rsub"):
                for alpha in [2, 0.5]:
                    w.case(f"{op}.Scalar alpha {SHORT[dtype]} {alpha}",
                           tensor_param("a", a),
                           f"aten::{op}.Scalar(%a, 3, {fmt_scalar(alpha)})", [a],
                           lambda x, op=op, al=alpha: getattr(torch, op)(
                               x, 3, alpha=al))
    for op, overload in BINARY_ST:
        fn = overload_fn(op, overload)
        for dtype in ALL:
            b = base_values(dtype, 6, "small").reshape(2, 3)
            if op in ("remainder",):
                b = divisor_safe(b)
            if op == "pow" and dtype in INTS:
                b = b.abs().clamp(max=5) if dtype != torch.uint8 else b.clamp(max=5)
            for s in [2, 0.5, -3, True, 1]:
                w.case(f"{op}.{overload} {s!r} {SHORT[dtype]}",
                       tensor_param("b", b),
                       f"aten::{op}.{overload}({fmt_scalar(s)}, %b)", [b],
                       lambda y, op=op, s=s: getattr(torch, op)(s, y))
    # div with rounding modes
    for mode in [None, "trunc", "floor"]:
        mode_text = "None" if mode is None else f'"{mode}"'
        for dtype in ALL:
            a = base_values(dtype, 6, "any").reshape(2, 3)
            b = divisor_safe(base_values(dtype, 9, "small")[3:].reshape(2, 3))
            w.case(f"div.Tensor_mode {mode} {SHORT[dtype]}",
                   f"{tensor_param('a', a)}, {tensor_param('b', b)}",
                   f"aten::div.Tensor_mode(%a, %b, rounding_mode={mode_text})",
                   [a, b], lambda x, y, m=mode: A.div.Tensor_mode(
                       x, y, rounding_mode=m))
            for s in [2, -0.75, 3]:
                w.case(f"div.Scalar_mode {mode} {SHORT[dtype]} {s}",
                       tensor_param("a", a),
                       f"aten::div.Scalar_mode(%a, {fmt_scalar(s)}, "
                       f"rounding_mode={mode_text})", [a],
                       lambda x, m=mode, s=s: torch.div(
                           x, s, rounding_mode=m))
    # integer division by zero is an error
    for op, overload in [("floor_divide", "default"), ("fmod", "Tensor"),
                         ("remainder", "Tensor")]:
        fn = overload_fn(op, overload)
        a = torch.tensor([1, 2], dtype=torch.int32)
        b = torch.tensor([1, 0], dtype=torch.int32)
        w.case(f"{op} by zero", f"{tensor_param('a', a)}, {tensor_param('b', b)}",
               f"aten::{op}.{overload}(%a, %b)", [a, b],
               lambda x, y, fn=fn: fn(x, y))
    # pow with negative integer exponents
    for dtype in INTS:
        a = base_values(dtype, 6, "small").reshape(2, 3)
        w.case(f"pow negative exponent {SHORT[dtype]}", tensor_param("a", a),
               "aten::pow.Tensor_Scalar(%a, -2)", [a],
               lambda x: A.pow.Tensor_Scalar(x, -2))
    # scalar graph inputs
    for dtype in [torch.float32, torch.int64, torch.float16]:
        a = base_values(dtype, 6, "small").reshape(2, 3)
        for s in [2.5, 3]:
            kind = "float" if isinstance(s, float) else "int"
            w.case(f"add scalar input {SHORT[dtype]} {kind}",
                   f"{tensor_param('a', a)}, %s: {kind}",
                   "aten::add.Scalar(%a, %s)", [a, s],
                   lambda x, s: torch.add(x, s))
            w.case(f"mul scalar input {SHORT[dtype]} {kind}",
                   f"{tensor_param('a', a)}, %s: {kind}",
                   "aten::mul.Scalar(%a, %s)", [a, s],
                   lambda x, s: torch.mul(x, s))
        w.case(f"masked_fill scalar input overflow {SHORT[dtype]}",
               f"{tensor_param('a', a)}, %m: b8[2, 3], %s: int",
               "aten::masked_fill.Scalar(%a, %m, %s)",
               [a, torch.ones(2, 3, dtype=torch.bool), 70000],
               lambda x, m, s: x.masked_fill(m, s))


def gen_ternary(w):
    for dtype in ALL:
        a = base_values(dtype, 6, "small").reshape(2, 3)
        b = base_values(dtype, 9, "small")[3:].reshape(2, 3)
        lo = base_values(dtype, 3, "small")
        hi = base_values(dtype, 5, "small")[2:]
        for cond_dtype in [torch.bool, torch.uint8]:
            c = torch.tensor([[True], [False]]).to(cond_dtype)
            w.case(f"where.self {SHORT[dtype]} {SHORT[cond_dtype]}",
                   f"{tensor_param('c', c)}, {tensor_param('a', a)}, "
                   f"{tensor_param('b', b)}", "aten::where.self(%c, %a, %b)",
                   [c, a, b], lambda c, x, y: A.where.self(c, x, y))
        c = torch.tensor([True, False, True])
        ci = torch.tensor([1, 0, 1])
        w.case(f"where.self int condition {SHORT[dtype]}",
               f"{tensor_param('c', ci)}, {tensor_param('a', a)}, "
               f"{tensor_param('b', b)}", "aten::where.self(%c, %a, %b)",
               [ci, a, b], lambda c, x, y: A.where.self(c, x, y))
        for s in [2.5, 3, True]:
            w.case(f"where.ScalarOther {SHORT[dtype]} {s!r}",
                   f"{tensor_param('c', c)}, {tensor_param('a', a)}",
                   f"aten::where.ScalarOther(%c, %a, {fmt_scalar(s)})", [c, a],
                   lambda c, x, s=s: torch.where(c, x, s))
            w.case(f"where.ScalarSelf {SHORT[dtype]} {s!r}",
                   f"{tensor_param('c', c)}, {tensor_param('b', b)}",
                   f"aten::where.ScalarSelf(%c, {fmt_scalar(s)}, %b)", [c, b],
                   lambda c, y, s=s: torch.where(c, s, y))
        m = torch.tensor([[True], [False]])
        for v in [2.5, -1, True, 300]:
            w.case(f"masked_fill.Scalar {SHORT[dtype]} {v!r}",
                   f"{tensor_param('a', a)}, {tensor_param('m', m)}",
                   f"aten::masked_fill.Scalar(%a, %m, {fmt_scalar(v)})", [a, m],
                   lambda x, m, v=v: x.masked_fill(m, v))
        at = layout(a.reshape(-1), [2, 3], "transposed")
        w.case(f"masked_fill.Scalar transposed {SHORT[dtype]}",
               f"{tensor_param('a', at)}, {tensor_param('m', c)}",
               "aten::masked_fill.Scalar(%a, %m, 7)", [at, c],
               lambda x, m: A.masked_fill.Scalar(x, m, 7))
        small = torch.ones(3, dtype=dtype)
        w.case(f"masked_fill.Scalar broadcast mask {SHORT[dtype]}",
               f"{tensor_param('a', small)}, {tensor_param('m', m)}",
               "aten::masked_fill.Scalar(%a, %m, 0)", [small, m],
               lambda x, m: A.masked_fill.Scalar(x, m, 0))
        v0 = torch.tensor(1.5, dtype=torch.float64)
        w.case(f"masked_fill.Tensor {SHORT[dtype]}",
               f"{tensor_param('a', a)}, {tensor_param('m', m)}, "
               f"{tensor_param('v', v0)}", "aten::masked_fill.Tensor(%a, %m, %v)",
               [a, m, v0], lambda x, m, v: A.masked_fill.Tensor(x, m, v))
        v1 = torch.tensor([1.5])
        w.case(f"masked_fill.Tensor 1-d value {SHORT[dtype]}",
               f"{tensor_param('a', a)}, {tensor_param('m', m)}, "
               f"{tensor_param('v', v1)}", "aten::masked_fill.Tensor(%a, %m, %v)",
               [a, m, v1], lambda x, m, v: A.masked_fill.Tensor(x, m, v))
        w.case(f"clamp.Tensor {SHORT[dtype]}",
               f"{tensor_param('a', a)}, {tensor_param('lo', lo)}, "
               f"{tensor_param('hi', hi)}", "aten::clamp.Tensor(%a, %lo, %hi)",
               [a, lo, hi], lambda x, l, h: A.clamp.Tensor(x, l, h))
        w.case(f"clamp.Tensor min only {SHORT[dtype]}",
               f"{tensor_param('a', a)}, {tensor_param('lo', lo)}",
               "aten::clamp.Tensor(%a, %lo)", [a, lo],
               lambda x, l: A.clamp.Tensor(x, l))
        w.case(f"clamp.Tensor max only {SHORT[dtype]}",
               f"{tensor_param('a', a)}, {tensor_param('hi', hi)}",
               "aten::clamp.Tensor(%a, None, %hi)", [a, hi],
               lambda x, h: A.clamp.Tensor(x, None, h))
    for dtype in [torch.float32, torch.int64]:
        w.case(f"where.Scalar {SHORT[dtype]}",
               tensor_param("c", torch.tensor([True, False])),
               "aten::where.Scalar(%c, 2.0, 3)", [torch.tensor([True, False])],
               lambda c: torch.where(c, 2.0, 3))
        w.case(f"where.Scalar ints {SHORT[dtype]}",
               tensor_param("c", torch.tensor([True, False])),
               "aten::where.Scalar(%c, 2, 3)", [torch.tensor([True, False])],
               lambda c: torch.where(c, 2, 3))


def gen_sum_view_mm(w):
    for dtype in ALL:
        x = base_values(dtype, 24, "small")
        if dtype in FLOATS:
            x = x.nan_to_num(0.0, posinf=1.0, neginf=-1.0)
        x = layout(x, [2, 3, 4], "contiguous")
        xt = x.transpose(0, 2)
        for dims, keep in [([1], False), ([0, 2], True), ([-1], False),
                           ([], False), (None, True)]:
            dims_text = "None" if dims is None else str(dims)
            for t, tname in [(x, "contiguous"), (xt, "transposed")]:
                w.case(f"sum.dim_IntList {SHORT[dtype]} {dims} {keep} {tname}",
                       tensor_param("a", t),
                       f"aten::sum.dim_IntList(%a, {dims_text}, "
                       f"{fmt_scalar(keep)})",
                       [t], lambda a, d=dims, k=keep: torch.sum(a, d, k)
                       if d is not None else A.sum.dim_IntList(a, None, k))
        w.case(f"sum.dim_IntList dtype {SHORT[dtype]}", tensor_param("a", x),
               "aten::sum.dim_IntList(%a, [1], dtype=torch.float64)", [x],
               lambda a: torch.sum(a, [1], dtype=torch.float64))
        w.case(f"sum {SHORT[dtype]}", tensor_param("a", x),
               "aten::sum.default(%a)", [x], lambda a: A.sum.default(a))
        w.case(f"sum repeated dim {SHORT[dtype]}", tensor_param("a", x),
               "aten::sum.dim_IntList(%a, [1, -2])", [x],
               lambda a: torch.sum(a, [1, -2]))
        for shape in [[6, 4], [-1], [2, -1, 2], [24, 1], [4, 7]]:
            w.case(f"view {SHORT[dtype]} {shape}", tensor_param("a", x),
                   f"aten::view.default(%a, {shape})", [x],
                   lambda a, s=shape: a.view(s))
        # views of non-contiguous tensors: compatible and incompatible
        xp = x.permute(1, 0, 2)
        for shape in [[3, 2, 2, 2], [3, 8], [6, 4]]:
            w.case(f"view permuted {SHORT[dtype]} {shape}", tensor_param("a", xp),
                   f"aten::view.default(%a, {shape})", [xp],
                   lambda a, s=shape: a.view(s))
        m = base_values(dtype, 6, "small").reshape(2, 3)
        if dtype in FLOATS:
            m = m.nan_to_num(0.0, 1.0, -1.0)
        n = base_values(dtype, 12, "small")[3:15].reshape(3, 4) if False else \
            base_values(dtype, 15, "small")[3:].reshape(3, 4)
        if dtype in FLOATS:
            n = n.nan_to_num(0.0, 1.0, -1.0)
        w.case(f"mm {SHORT[dtype]}", f"{tensor_param('a', m)}, "
               f"{tensor_param('b', n)}", "aten::mm.default(%a, %b)", [m, n],
               lambda a, b: torch.mm(a, b))
        w.case(f"mm transposed {SHORT[dtype]}", f"{tensor_param('a', m.t())}, "
               f"{tensor_param('b', m)}", "aten::mm.default(%a, %b)",
               [m.t(), m], lambda a, b: torch.mm(a, b))
    a = torch.ones(2, 3)
    b = torch.ones(4, 2)
    w.case("mm inner dims differ", f"{tensor_param('a', a)}, "
           f"{tensor_param('b', b)}", "aten::mm.default(%a, %b)", [a, b],
           lambda a, b: torch.mm(a, b))
    b = torch.ones(3, 2, dtype=torch.float64)
    w.case("mm dtypes differ", f"{tensor_param('a', a)}, "
           f"{tensor_param('b', b)}", "aten::mm.default(%a, %b)", [a, b],
           lambda a, b: torch.mm(a, b))


def main():
    torch.set_default_dtype(torch.float32)
    w = Writer()
    print("# Generated by gen_pointwise_cases.py with torch", torch.__version__)
    gen_unary(w)
    gen_binary(w)
    gen_ternary(w)
    gen_sum_view_mm(w)
    print(f"# {w.count} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
