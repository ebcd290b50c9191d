"""The layout of generated code: lines within the width, and a syntax tree (so a compiled
kernel) unchanged by the line breaking (symloss.codegen.layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from symloss.codegen.layout import ATOM, WIDTH, wrapped

GENERATED = Path(__file__).resolve().parents[1] / "generated"
MODULES = sorted((GENERATED / "kernels").glob("*.py"))
# A line may pass WIDTH where a flat bracket (a double-double constant) is kept whole deep in
# a nested expression: large_margin_softmax's Chebyshev terms nest about 20 calls deep.
LIMIT = 125


def tree(source: str) -> str:
    """The syntax tree of source, docstrings compared by their words (they are re-filled)."""
    root = ast.parse(source)
    for node in ast.walk(root):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0].value.value = " ".join(body[0].value.value.split())
    return ast.dump(root)


def test_no_generated_line_is_longer_than_the_limit():
    long = [
        f"{path.name}:{n}: {len(line)}"
        for path in MODULES
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > LIMIT
    ]
    assert MODULES and long == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_breaking_lines_keeps_the_syntax_tree(path):
    text = path.read_text(encoding="utf-8")
    narrow = wrapped(text, width=40)  # breaks nearly every statement, nested calls included
    assert narrow != text
    assert tree(narrow) == tree(text)
    assert wrapped(text) == text  # generated/ is laid out already: the layout is a fixed point


def test_the_tree_comparison_sees_a_regrouping():
    assert tree("y = a*(b + c)\n") != tree("y = a*b + c\n")
    assert tree('def f():\n    """a  b\n    c"""\n') == tree('def f():\n    """a b c"""\n')


@pytest.mark.parametrize(
    "source",
    [
        "x = select(a_long_condition_name, numba.float64(1.0), other_function(argument_one, b))\n",
        "def kernel(logits, targets, weights, input_lengths, target_lengths, scale, grad):\n"
        "    return logits\n",
        "def f(u0, u1):\n    return u0_is_the_largest_of_them_all, math.log1p(math.exp(u1 - u0))\n",
        "t = (alpha_component_value_name + beta_component_value_name,)\n",
        "acc = vmath.reassoc_add(acc, w_i * (first_term_of_the_sum + second_term_of_sum))\n",
        "f = njit(error_model='numpy', parallel=True, fastmath=False, cache=True, nogil=True)\n",
        "LOSS = {\n    'doc': 'a long documentation string with many words that runs on',\n"
        "    'n': 1,\n}\n",
        "if first_condition_is_true and second_condition_is_true or the_third_one_holds:\n"
        "    pass\n",
        "# a comment that is far too long for one line of the generated module, so refilled\n",
    ],
)
def test_each_kind_of_line_is_broken_without_changing_its_meaning(source):
    narrow = wrapped(source, width=40)
    assert tree(narrow) == tree(source)
    breakable = not source.startswith("if")  # a bare condition has no bracket to break in
    assert not breakable or all(len(line) <= 40 + ATOM for line in narrow.splitlines()), narrow


def test_a_long_string_becomes_adjacent_literals_of_the_same_value():
    source = "d = {'doc': '" + "word " * 40 + "end'}\n"
    narrow = wrapped(source, width=60)
    namespace: dict = {}
    exec(compile(narrow, "<layout>", "exec"), namespace)
    assert namespace["d"]["doc"] == "word " * 40 + "end"
    assert max(map(len, narrow.splitlines())) <= 60


def test_short_lines_are_left_alone():
    source = "x = f(a, b)  # a comment\n"
    assert wrapped(source) == source
    assert WIDTH == 100
