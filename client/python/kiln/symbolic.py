"""Symbolic integers: PyTorch SymInts and sympy expressions <-> kiln.v1 SymExpr.

PyTorch's symbolic shapes are sympy expressions over symbols it names ``s0``,
``s1`` (torch 2.x) or ``t0.size(0)`` (torch 1.13). kiln.v1 wants identifiers,
so :class:`SymbolTable` names every symbol ``s0, s1, ...`` in order of first
appearance (the order graph.proto's canonical form uses) and remembers the
mapping, which a guard builder needs to declare the same symbols.

sympy is imported lazily: graphs with static shapes never need it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import torch

from kiln import proto

__all__ = [
    "SymbolicError",
    "SymbolTable",
    "is_symint",
    "sympy_expr_of",
    "sympy_to_proto",
    "constant",
    "symbol",
    "evaluate",
    "to_str",
]

SymExpr = proto.SymExpr


class SymbolicError(ValueError):
    """An expression kiln.v1 cannot carry or evaluate."""


def _symint_types() -> tuple:
    types = []
    for name in ("SymInt", "SymIntNode"):  # torch 2.x, torch 1.13
        cls = getattr(torch, name, None)
        if isinstance(cls, type):
            types.append(cls)
    return tuple(types)


_SYMINT_TYPES = _symint_types()


def is_symint(value: Any) -> bool:
    """Whether ``value`` is a torch SymInt (not a plain int).

    torch 2.x: ``torch.SymInt``; torch 1.13: ``torch.SymIntNode`` on tensors
    and ``PySymInt`` in ``node.meta["val"]`` of size computations.
    """
    if _SYMINT_TYPES and isinstance(value, _SYMINT_TYPES):
        return True
    return type(value).__name__ == "PySymInt" and hasattr(value, "expr")


def sympy_expr_of(value: Any) -> Any:
    """The sympy expression behind a torch SymInt.

    torch 2.x keeps it at ``value.node.expr``; torch 1.13 at
    ``value.get_pyobj().expr`` (``value.expr`` for a PySymInt).
    """
    node = getattr(value, "node", None)
    if node is not None and hasattr(node, "expr"):
        return node.expr
    get_pyobj = getattr(value, "get_pyobj", None)
    if get_pyobj is not None:
        return get_pyobj().expr
    if type(value).__name__ == "PySymInt":
        return value.expr
    raise SymbolicError(f"cannot find the expression of {type(value).__name__} {value!r}")


class SymbolTable:
    """Names sympy symbols ``s0, s1, ...`` in order of first appearance.

    ``names`` maps the kiln name to the sympy symbol; ``hints`` holds the
    trace-time value where PyTorch knows it.
    """

    def __init__(self) -> None:
        self._by_symbol: Dict[Any, str] = {}
        self.names: Dict[str, Any] = {}
        self.hints: Dict[str, int] = {}

    def name(self, sym: Any) -> str:
        """The kiln name of sympy symbol ``sym``, assigned on first use."""
        found = self._by_symbol.get(sym)
        if found is None:
            found = f"s{len(self._by_symbol)}"
            self._by_symbol[sym] = found
            self.names[found] = sym
        return found

    def __len__(self) -> int:
        return len(self._by_symbol)


def constant(value: int) -> "proto.SymExpr":
    """A CONSTANT SymExpr."""
    return SymExpr(op=SymExpr.CONSTANT, constant=int(value))


def symbol(name: str) -> "proto.SymExpr":
    """A SYMBOL SymExpr."""
    return SymExpr(op=SymExpr.SYMBOL, symbol=name)


def _node(op: int, *operands: "proto.SymExpr") -> "proto.SymExpr":
    return SymExpr(op=op, operands=list(operands))


# torch.utils._sympy.functions (and torch 1.13's symbolic_shapes) classes,
# matched by class name because their module moved between releases.
_BINARY_BY_NAME = {
    "FloorDiv": SymExpr.FLOOR_DIV,
    "CleanDiv": SymExpr.FLOOR_DIV,  # exact division: floor division is equal
    "IntTrueDiv": None,  # a float result: not representable
    "Mod": SymExpr.MOD,
    "PythonMod": SymExpr.MOD,
}
_RELATIONS = {
    "Equality": SymExpr.EQ,
    "Unequality": SymExpr.NE,
    "StrictLessThan": SymExpr.LT,
    "LessThan": SymExpr.LE,
    "StrictGreaterThan": SymExpr.GT,
    "GreaterThan": SymExpr.GE,
}


def sympy_to_proto(expr: Any, table: SymbolTable) -> "proto.SymExpr":
    """Converts a sympy expression (as PyTorch's ShapeEnv builds it) to SymExpr.

    Supported: integers, symbols, +, *, positive integer powers, FloorDiv,
    CleanDiv, CeilDiv (lowered to ``-((-a) // b)``), Mod / PythonMod,
    ModularIndexing (``(a // b) % c``), Min, Max, the six relations, And, Or,
    Not and boolean constants. Anything else (rationals, true division,
    unknown functions) raises :class:`SymbolicError`.
    """
    import sympy

    if isinstance(expr, bool):
        return SymExpr(op=SymExpr.BOOL_CONSTANT, bool_value=expr)
    if isinstance(expr, int):
        return constant(expr)
    if expr is sympy.true or expr is sympy.false:
        return SymExpr(op=SymExpr.BOOL_CONSTANT, bool_value=bool(expr))
    if expr.is_Integer:
        return constant(int(expr))
    if expr.is_Symbol:
        return symbol(table.name(expr))
    if expr.is_Number:
        raise SymbolicError(f"non-integer constant {expr} in {expr}")

    def convert(e: Any) -> "proto.SymExpr":
        return sympy_to_proto(e, table)

    name = type(expr).__name__
    if isinstance(expr, sympy.Add):
        return _node(SymExpr.ADD, *[convert(a) for a in expr.args])
    if isinstance(expr, sympy.Mul):
        for a in expr.args:
            if a.is_Number and not a.is_Integer:
                raise SymbolicError(f"non-integer coefficient {a} in {expr}")
        return _node(SymExpr.MUL, *[convert(a) for a in expr.args])
    if isinstance(expr, sympy.Pow):
        base, exp = expr.args
        if exp.is_Integer and int(exp) >= 1:
            if int(exp) == 1:
                return convert(base)
            return _node(SymExpr.MUL, *[convert(base) for _ in range(int(exp))])
        raise SymbolicError(f"power {expr} is not a positive integer power")
    if name in _BINARY_BY_NAME:
        op = _BINARY_BY_NAME[name]
        if op is None or len(expr.args) != 2:
            raise SymbolicError(f"{name} in {expr} has no integer SymExpr form")
        return _node(op, convert(expr.args[0]), convert(expr.args[1]))
    if name == "CeilDiv" and len(expr.args) == 2:
        a, b = (convert(x) for x in expr.args)
        return _node(SymExpr.NEG, _node(SymExpr.FLOOR_DIV, _node(SymExpr.NEG, a), b))
    if name == "ModularIndexing" and len(expr.args) == 3:
        base, divisor, modulus = (convert(x) for x in expr.args)
        return _node(SymExpr.MOD, _node(SymExpr.FLOOR_DIV, base, divisor), modulus)
    if name in ("Min", "Max"):
        op = SymExpr.MIN if name == "Min" else SymExpr.MAX
        return _node(op, *[convert(a) for a in expr.args])
    if name in _RELATIONS:
        return _node(_RELATIONS[name], convert(expr.lhs), convert(expr.rhs))
    if name in ("And", "Or"):
        op = SymExpr.AND if name == "And" else SymExpr.OR
        return _node(op, *[convert(a) for a in expr.args])
    if name == "Not":
        return _node(SymExpr.NOT, convert(expr.args[0]))
    raise SymbolicError(f"sympy {name} in {expr} has no kiln.v1 SymExpr form")


def _floordiv(a: int, b: int) -> int:
    if b == 0:
        raise SymbolicError("division by zero")
    return a // b


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise SymbolicError("modulo by zero")
    return a % b


def _fold(fn: Callable[[Any, Any], Any]) -> Callable[[List[Any]], Any]:
    def apply(values: List[Any]) -> Any:
        result = values[0]
        for v in values[1:]:
            result = fn(result, v)
        return result

    return apply


_EVAL: Dict[int, Callable[[List[Any]], Any]] = {
    SymExpr.ADD: _fold(lambda a, b: a + b),
    SymExpr.SUB: lambda v: v[0] - v[1],
    SymExpr.MUL: _fold(lambda a, b: a * b),
    SymExpr.FLOOR_DIV: lambda v: _floordiv(v[0], v[1]),
    SymExpr.MOD: lambda v: _mod(v[0], v[1]),
    SymExpr.NEG: lambda v: -v[0],
    SymExpr.MIN: min,
    SymExpr.MAX: max,
    SymExpr.EQ: lambda v: v[0] == v[1],
    SymExpr.NE: lambda v: v[0] != v[1],
    SymExpr.LT: lambda v: v[0] < v[1],
    SymExpr.LE: lambda v: v[0] <= v[1],
    SymExpr.GT: lambda v: v[0] > v[1],
    SymExpr.GE: lambda v: v[0] >= v[1],
    SymExpr.AND: all,
    SymExpr.OR: any,
    SymExpr.NOT: lambda v: not v[0],
}
_ARITY = {
    SymExpr.SUB: 2,
    SymExpr.FLOOR_DIV: 2,
    SymExpr.MOD: 2,
    SymExpr.NEG: 1,
    SymExpr.NOT: 1,
    **{op: 2 for op in (SymExpr.EQ, SymExpr.NE, SymExpr.LT, SymExpr.LE, SymExpr.GT, SymExpr.GE)},
}


def evaluate(expr: "proto.SymExpr", bindings: Mapping[str, int]) -> Union[int, bool]:
    """Evaluates ``expr`` with Python int semantics (floor division, Python
    modulo). Raises :class:`SymbolicError` for unbound symbols, bad arity
    and division by zero."""
    op = expr.op
    if op == SymExpr.CONSTANT:
        return int(expr.constant)
    if op == SymExpr.BOOL_CONSTANT:
        return bool(expr.bool_value)
    if op == SymExpr.SYMBOL:
        if expr.symbol not in bindings:
            raise SymbolicError(f"symbol {expr.symbol} is not bound")
        return int(bindings[expr.symbol])
    fn = _EVAL.get(op)
    if fn is None:
        raise SymbolicError(f"SymExpr op {op} is not valid")
    n = len(expr.operands)
    want = _ARITY.get(op)
    if (want is not None and n != want) or (want is None and n < 2):
        raise SymbolicError(f"{SymExpr.Op.Name(op)} with {n} operands")
    return fn([evaluate(o, bindings) for o in expr.operands])


_INFIX = {
    SymExpr.ADD: " + ",
    SymExpr.SUB: " - ",
    SymExpr.MUL: "*",
    SymExpr.FLOOR_DIV: " // ",
    SymExpr.MOD: " % ",
    SymExpr.EQ: " == ",
    SymExpr.NE: " != ",
    SymExpr.LT: " < ",
    SymExpr.LE: " <= ",
    SymExpr.GT: " > ",
    SymExpr.GE: " >= ",
    SymExpr.AND: " and ",
    SymExpr.OR: " or ",
}


def to_str(expr: "proto.SymExpr") -> str:
    """A Python-like rendering, for messages: ``s0*s1 + 1``."""
    op = expr.op
    if op == SymExpr.CONSTANT:
        return str(expr.constant)
    if op == SymExpr.SYMBOL:
        return expr.symbol
    if op == SymExpr.BOOL_CONSTANT:
        return "True" if expr.bool_value else "False"
    parts = [to_str(o) for o in expr.operands]
    if op in _INFIX:
        parts = [p if (o.op in (SymExpr.CONSTANT, SymExpr.SYMBOL)) else f"({p})" for p, o in zip(parts, expr.operands)]
        return _INFIX[op].join(parts)
    if op == SymExpr.NEG:
        return f"-{parts[0]}" if len(parts) == 1 else f"-({', '.join(parts)})"
    if op == SymExpr.NOT:
        return f"not {parts[0]}"
    name = {SymExpr.MIN: "min", SymExpr.MAX: "max"}.get(op, str(op))
    return f"{name}({', '.join(parts)})"


def proto_from_value(value: Any, table: SymbolTable) -> Optional["proto.SymExpr"]:
    """SymExpr for a SymInt, ``None`` for a plain int (callers emit ints)."""
    if is_symint(value):
        return sympy_to_proto(sympy_expr_of(value), table)
    return None
