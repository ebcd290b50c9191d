"""The generated reference: complete, free of SymPy-internal spellings, figures present and
referenced, formulas that LaTeX accepts, relations that hold on the kernels."""

import re
import shutil
import subprocess

import numpy as np
import pytest

import symloss
from symloss import docs
from symloss.locations import generated_dir

DOCS = generated_dir() / "docs"
TEX = (DOCS / "losses.tex").read_text()
MD = (DOCS / "losses.md").read_text()
HAS_PDFLATEX = shutil.which("pdflatex") is not None


def test_documents_are_what_symloss_docs_writes():
    pytest.importorskip("matplotlib")
    assert docs.stale(docs.build(), DOCS) == []


@pytest.mark.parametrize("name", symloss.names())
def test_every_loss_has_a_section_in_both_documents(name):
    assert rf"\subsection{{\texttt{{{docs.tex(name)}}}}}" in TEX
    assert f"### `{name}`" in MD


@pytest.mark.parametrize("text", [TEX, MD], ids=["tex", "md"])
def test_no_sympy_internal_spelling_leaks(text):
    for pattern in (r"Heaviside\(", r"Piecewise\(", r"(?<![A-Za-z\\])(re|im)\(", r"ITE\("):
        assert not re.search(pattern, text), pattern
    for spelling in (
        r"\operatorname{sign}",
        r"\operatorname{ITE}",
        r"\theta\left(",
        "ExprCondPair",
    ):
        assert spelling not in text


def test_every_figure_exists_is_a_readable_png_and_is_referenced():
    image = pytest.importorskip("matplotlib.image")
    for name in docs.FIGURES:
        path = DOCS / "figures" / name
        pixels = image.imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 200 and pixels.std() > 0
        assert f"{{figures/{name}}}" in TEX  # \includegraphics
        assert f"(figures/{name})" in MD
    assert sorted(p.name for p in (DOCS / "figures").iterdir()) == sorted(docs.FIGURES)
    for label in re.findall(r"\\label\{(fig:[^}]+)\}", TEX):  # each figure is cited in the text
        assert rf"\ref{{{label}}}" in TEX


def test_long_expressions_become_named_pieces_that_compose_back():
    import sympy as sp

    x = sp.symbols("x0:30")
    expr = sp.exp(sum(x)) * sp.log(sum(v**2 for v in x)) + sp.Piecewise((x[0], x[1] > 0), (1, True))
    main, pieces = docs.split(sp.latex, expr, 80)
    assert pieces and all(len(sp.latex(e)) <= 80 for e in [main, *(p for _, p in pieces)])
    names = dict(pieces)  # a piece may use other names: substitute until none is left
    for _ in range(len(names) + 1):
        main = main.xreplace(names)
    assert main == expr


def _pdflatex(tmp_path, body: str) -> str:
    (tmp_path / "doc.tex").write_text(body)
    for _ in range(2):
        subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "doc.tex"],
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
        )
    return (tmp_path / "doc.log").read_text(errors="replace")


@pytest.mark.skipif(not HAS_PDFLATEX, reason="pdflatex is not installed")
def test_the_reference_compiles_without_errors_or_overfull_display_math(tmp_path):
    shutil.copytree(DOCS / "figures", tmp_path / "figures")
    log = _pdflatex(tmp_path, TEX)
    assert not re.search(r"^! ", log, re.M), log[-2000:]
    assert "undefined" not in log.lower().replace("undefined references", "undefined")
    # display math sits in align* environments: an overfull box there is reported "in alignment"
    assert not re.search(r"Overfull \\hbox.*(in alignment|detected at line)", log)
    assert "Output written" in log


@pytest.mark.skipif(not HAS_PDFLATEX, reason="pdflatex is not installed")
def test_every_markdown_formula_is_valid_latex_math(tmp_path):
    blocks = re.findall(r"\$\$(.+?)\$\$", MD, re.S)
    inline = re.findall(r"(?<!\$)\$([^$\n]+)\$(?!\$)", re.sub(r"\$\$.+?\$\$", "", MD, flags=re.S))
    assert len(blocks) > 50 and inline
    body = "\n".join(rf"\[{b}\]" for b in blocks) + "\n" + "\n\n".join(f"${m}$" for m in inline)
    log = _pdflatex(
        tmp_path,
        "\\documentclass{article}\\usepackage[a4paper,margin=1cm]{geometry}"
        "\\usepackage{amsmath,amssymb}\\begin{document}\n" + body + "\n\\end{document}\n",
    )
    assert not re.search(r"^! ", log, re.M), log[-2000:]


# -- the relations the documents state, on the kernels --------------------------------------


def test_stated_relations_hold(rng):
    r, zero = rng.normal(0, 2, 50), np.zeros(50)
    for beta in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(
            symloss.smooth_l1(r, zero, beta=beta, reduction="none"),
            symloss.huber(r, zero, delta=beta, reduction="none") / beta,
            rtol=1e-14,
        )
    assert symloss.l2(r, zero) == pytest.approx(np.sqrt(50 * symloss.mse(r, zero)), rel=1e-14)
    assert symloss.l1(r, zero) == pytest.approx(50 * symloss.mae(r, zero), rel=1e-14)
    q, p = rng.dirichlet(np.ones(5), 8), rng.dirichlet(np.ones(5), 8)
    entropy = -np.sum(p * np.log(p), axis=1)
    np.testing.assert_allclose(
        symloss.kl_divergence(q, p, reduction="none"),
        symloss.softmax_cross_entropy(np.log(q), p, reduction="none") - entropy,
        rtol=1e-12,
    )
    x, w, y = rng.normal(size=(6, 3)), rng.normal(size=(3, 4)), rng.integers(0, 4, 6)
    assert symloss.large_margin_softmax(x, w, y, m=1) == pytest.approx(
        symloss.softmax_cross_entropy(x @ w, y), rel=1e-13
    )
