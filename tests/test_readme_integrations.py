"""The README's integration examples, run as written in fresh processes (skipped without the
integration's library); what they print is checked against the kernels or the data."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
LIBRARIES = {
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "torch": "torch",
    "jax": "jax",
    "dask": "distributed",
}


def examples() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- integration-example (\w+) -->\n```python\n(.*?)```", text, re.S))
    assert set(found) == set(LIBRARIES), sorted(found)
    return found


def _run(name: str, tmp_path: Path, extra: str = "") -> str:
    if importlib.util.find_spec(LIBRARIES[name]) is None:
        pytest.skip(f"{LIBRARIES[name]} is not installed")
    code = examples()[name] + extra
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_lightgbm_example(tmp_path):
    out = _run("lightgbm", tmp_path, "\nimport symloss\nprint(booster.best_score or 'ok')\n")
    assert len(re.findall(r"-?\d+\.\d+", out.splitlines()[0])) == 3


def test_xgboost_example(tmp_path):
    out = _run(
        "xgboost",
        tmp_path,
        "\nimport numpy as np\nprint('accuracy', np.mean(model.predict(X) == labels))\n",
    )
    assert float(out.split("accuracy")[1]) > 0.9


def test_torch_example(tmp_path):
    out = _run(
        "torch",
        tmp_path,
        "\nref = torch.nn.functional.huber_loss(model(x).squeeze(1), y, "
        "delta=0.5)\nprint('check', huber(model(x).squeeze(1), y).item() - ref.item())\n",
    )
    assert abs(float(out.split("check")[1])) < 1e-15


def test_jax_example(tmp_path):
    out = _run(
        "jax",
        tmp_path,
        "\nimport symloss\nv, g = symloss.softmax_cross_entropy"
        ".value_and_grad(logits, labels, label_smoothing=0.1)\n"
        "print('check', float(value) == float(v), bool((np.asarray(grad) == g).all()))\n",
    )
    assert out.strip().endswith("check True True")


def test_dask_example(tmp_path):
    out = _run(
        "dask",
        tmp_path,
        "\nimport numpy as np, symloss\n"
        "p = pred.compute()\nv, g = symloss.log_cosh.value_and_grad(p, np.zeros_like(p))\n"
        "print('check', abs(value - v) / v, np.max(np.abs(grad - g)))\n",
    )
    rel, diff = map(float, out.split("check")[1].split())
    assert rel < 1e-12 and diff < 1e-18
