"""No user text becomes code: a definition's doc, its inputs' and parameters' docs and LaTeX
reach the generated module only as literal text, and names are short identifiers."""

import ast
import importlib.util
import re

import numpy as np
import pytest
import sympy as sp

import symloss
from symloss.codegen import comment_text, docstring_text


def _payloads(marker):
    """Texts that, pasted raw into a docstring, a comment or a string, would run code."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return [
        f'x"""\nimport builtins; {code}\n"""',
        f"x'''\n{code}\n'''",
        f'"""; {code}; """',
        f"\\\n{code}",
        f"x\r{code}\n#",
        f"x\x00\x0c\u2028{code}",
        '"',
        '""',
        "\\",
        "",
    ]


@pytest.mark.parametrize("field", ["doc", "input doc", "input latex", "param doc", "param latex"])
def test_text_of_a_definition_never_runs(field, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMLOSS_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "marker"
    for k, text in enumerate(_payloads(marker)):
        kw = {"doc": "a loss"}
        pred = symloss.Input("pred", differentiable=True)
        c = symloss.Param(1.0, sp.Interval(0, 10))
        if field == "doc":
            kw["doc"] = text
        elif field == "input doc":
            pred = symloss.Input("pred", differentiable=True, doc=text)
        elif field == "input latex":
            pred = symloss.Input("pred", differentiable=True, latex=text or "p")
        elif field == "param doc":
            c = symloss.Param(1.0, sp.Interval(0, 10), doc=text)
        else:
            c = symloss.Param(1.0, sp.Interval(0, 10), latex=text or "c")
        loss = symloss.define(
            f"inj{k}", "c*(pred - target)**2", inputs=(pred, "target"), params={"c": c}, **kw
        )
        kernel = symloss.compile(loss)
        assert not marker.exists(), (field, text)
        out = kernel(np.array([1.0, 2.0]), np.array([0.0, 0.0]), reduction="none")
        np.testing.assert_array_equal(out, [1.0, 4.0])
    # each module written is Python, whatever the text (a definition that differs only in
    # LaTeX is the same kernel, compiled once per process)
    for module in (tmp_path / "cache").glob("inj*.py"):
        ast.parse(module.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "text",
    ['x"""y', 'ends with "', '""', '"""', "back\\slash", "\\", "tab\there\nnewline", "\x00\u2028"],
)
def test_docstring_text_reads_back_as_the_text(text):
    source = f'"""{docstring_text(text)}"""\n'
    (node,) = ast.parse(source).body
    assert node.value.value == text


@pytest.mark.parametrize("text", ["a\nimport os", "a\rb", "a\u2028b", "a\x00b"])
def test_comment_text_stays_on_its_line(text):
    line = f"# {comment_text(text)}\nx = 1\n"
    tree = ast.parse(line)
    assert [type(n).__name__ for n in tree.body] == ["Assign"]
    assert "\n" not in comment_text(text) and "\r" not in comment_text(text)


@pytest.mark.parametrize("name", ["a\nb", "import os", "x" * 65, "a-b", ""])
def test_names_are_short_identifiers(name):
    with pytest.raises(ValueError, match="name"):
        symloss.define(name, "pred**2")


def test_module_docstring_keeps_the_doc_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMLOSS_CACHE_DIR", str(tmp_path))
    doc = 'quoted "q""" and \\alpha, a tab\tand\nlines'
    symloss.compile(symloss.define("docs_kept", "pred**2", doc=doc))
    (path,) = tmp_path.glob("docs_kept_*.py")
    spec = importlib.util.spec_from_file_location("docs_kept_module", path)
    text = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
    assert spec is not None and doc in text


def _aliasing_calls():
    w, b, x = np.full(3, 2.0), np.empty(3), np.ones(3)
    t = np.zeros(3)
    mse = symloss.mse
    return [
        ("out", "weight", lambda: mse(x, t, reduction="none", weight=w, out=w)),
        ("out", "pred", lambda: mse(x, t, reduction="none", out=x)),
        ("out", "target", lambda: mse(x, t, reduction="none", out=t)),
        ("out[1]", "out[0]", lambda: mse.value_and_grad(x, t, reduction="none", out=(b, b))),
        (
            "out[0]",
            "weight",
            lambda: mse.value_and_grad(x, t, reduction="none", weight=w, out=(w, b)),
        ),
        ("out", "pred", lambda: mse.value_and_grad(x, t, reduction="sum", out=x)),
        ("out[1]", "out[0]", lambda: mse.grad_hess(x, t, out=(b, b))),
        ("out[0]", "pred", lambda: mse.grad_hess(x, t, out=(x, b))),
    ]


@pytest.mark.parametrize("k", range(8))
def test_out_buffers_that_alias_what_the_kernel_reads_are_refused(k):
    out, other, call = _aliasing_calls()[k]
    with pytest.raises(
        ValueError, match=rf"{re.escape(out)} shares memory with {re.escape(other)}"
    ):
        call()


def test_out_buffers_apart_from_the_inputs_are_written():
    w, x, t = np.full(3, 2.0), np.ones(3), np.zeros(3)
    out = np.empty(3)
    assert symloss.mse(x, t, reduction="none", weight=w, out=out) is out
    np.testing.assert_array_equal(out, [2.0, 2.0, 2.0])  # w·ℓ, ℓ = (1 - 0)²·... = 1
    v, g = np.empty(3), np.empty(3)
    symloss.mse.value_and_grad(x, t, reduction="none", weight=w, out=(v, g))
    np.testing.assert_array_equal(v, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(g, [4.0, 4.0, 4.0])  # w·2(x - t)
    # an array parameter is read from its own converted copy: out= may be the caller's array
    pw = np.array([2.0, 3.0, 4.0])
    symloss.sigmoid_cross_entropy(x, t, pos_weight=pw, reduction="none", out=pw)
    np.testing.assert_allclose(pw, np.log1p(np.e), rtol=1e-15)  # target 0: softplus(1)


def _levenshtein(a, b) -> int:
    """The textbook DP, on Python sequences compared element by element."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def test_edit_distance_of_list_batches_takes_their_lengths():
    # the lengths were ignored for lists of sequences: 0 where the answer is 2
    got = symloss.edit_distance([[1, 2, 3]], [[1, 2, 3]], hypothesis_lengths=[1])
    np.testing.assert_array_equal(got, [_levenshtein([1], [1, 2, 3])])
    hyp, ref = ["abc", "xy"], ["abd", "xy"]
    got = symloss.edit_distance(hyp, ref, truth_lengths=[3, 1])
    np.testing.assert_array_equal(got, [_levenshtein("abc", "abd"), _levenshtein("xy", "x")])
    with pytest.raises(
        ValueError, match=r"hypothesis_lengths\[0\] is 3, but hypothesis\[0\] has 2"
    ):
        symloss.edit_distance([[1, 2], [1, 2, 3]], [[1], [1]], hypothesis_lengths=[3, 1])
    with pytest.raises(TypeError, match="for batches"):
        symloss.edit_distance("abc", "abd", hypothesis_lengths=[1])


def test_edit_distance_does_not_equate_characters_with_their_code_points():
    assert symloss.edit_distance("abc", [97, 98, 99]) == _levenshtein("abc", [97, 98, 99]) == 3
    assert symloss.edit_distance(["ab"], [[97, 98]])[0] == 2


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"costs": "111"}, "costs must be three numbers"),
        ({"costs": b"111"}, "costs must be three numbers"),
        ({"normalize": "yes"}, "normalize must be True or False"),
        ({"normalize": 1}, "normalize must be True or False"),
    ],
)
def test_edit_distance_options_of_the_wrong_type_are_refused(kw, match):
    with pytest.raises(TypeError, match=match):
        symloss.edit_distance("abc", "abd", **kw)
