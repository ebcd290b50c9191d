"""The README's "Bring your own loss" example, run exactly as written, in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- byo-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its byo-example block"
    return match.group(1)


def test_the_example_is_at_most_ten_lines():
    lines = [ln for ln in example().splitlines() if ln.strip()]
    assert len(lines) <= 10, lines


def test_the_example_runs_and_what_it_prints_is_right(tmp_path):
    # Run the block as written, then check its results against the formula in NumPy.
    code = example() + (
        "\nnp.save('pred.npy', pred); np.save('target.npy', target)"
        "\nnp.save('out.npy', np.array([value, *grad, *g, *h]))\n"
    )
    env = dict(os.environ, SYMLOSS_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert r"\log" in run.stdout and r"\begin{aligned}" in run.stdout
    assert "CORRECT" in run.stdout and "symbolic" in run.stdout
    assert list((tmp_path / "cache").glob("cauchy2_*.py")), "compile wrote no cache module"

    pred, target = np.load(tmp_path / "pred.npy"), np.load(tmp_path / "target.npy")
    n = pred.size
    out = np.load(tmp_path / "out.npy")
    value, grad, g, h = out[0], out[1 : 1 + n], out[1 + n : 1 + 2 * n], out[1 + 2 * n :]
    c, r = 2.0, pred - target
    u = r / c
    np.testing.assert_allclose(value, np.mean(c**2 / 2 * np.log1p(u**2)), rtol=1e-13)
    np.testing.assert_allclose(grad, r / (1 + u**2) / n, rtol=1e-13)
    np.testing.assert_allclose(g, r / (1 + u**2), rtol=1e-13)
    # second derivative from central differences of the gradient formula
    step = 1e-6
    fd = ((r + step) / (1 + ((r + step) / c) ** 2) - (r - step) / (1 + ((r - step) / c) ** 2)) / (
        2 * step
    )
    np.testing.assert_allclose(h, fd, rtol=1e-7, atol=1e-9)
