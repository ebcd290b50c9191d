"""The error model of `symloss verify` (symloss/verify/model.py): sharp both ways."""

import subprocess
import sys

import numpy as np
import pytest

import symloss
from symloss import verify
from symloss.catalog import BUILTINS
from symloss.verify.model import EXCEPTIONS, Row, assess, nearest_on_lines


def test_ulp_error_is_the_count_of_floats_between():
    one = np.float64(1.0)
    assert verify.ulp_error(np.nextafter(one, 2.0), one) == 1
    assert verify.ulp_error(np.float32(-0.0), np.float32(0.0)) == 0
    assert verify.ulp_error(np.float64(np.nan), np.float64(1.0)) == np.inf
    assert verify.ulp_error(np.float64(np.inf), np.float64(np.inf)) == 0
    # no silent floor: the smallest subnormal is one ULP from 0, 1e-300 is many
    assert verify.ulp_error(np.float64(5e-324), np.float64(0.0)) == 1
    assert verify.ulp_error(np.float64(1e-300), np.float64(0.0)) > 1e17


def test_assess_counts_every_allowance():
    row = Row("demo", "grad", "float64", 8.0)
    forward = np.array([0.0, 3.0, 100.0, 100.0, 100.0])
    final = assess(
        row,
        forward,
        lambda i: {"i": i},
        perturbed=lambda i: 1.0 if i == 2 else 50.0,
        exceptions=[("underflow", lambda i: 0.5 if i == 3 else None)],
    )
    assert row.points == 5 and row.raw_ulp == 100.0
    assert row.perturbed == 1 and row.excused == {"underflow": 1} and row.failed == 1
    assert not row.passed and row.worst_at == {"i": 4} and final[4] == 50.0
    with pytest.raises(KeyError):
        assess(Row("d", "grad", "float64", 8.0), forward, dict, exceptions=[("made up", dict)])
    assert "rounded residual" in EXCEPTIONS and "infinite input" in EXCEPTIONS


def test_a_value_between_neighbours_of_one_branch_is_matched():
    line = [(1.0, (True,)), (2.0, (True,)), (3.0, (False,))]
    assert nearest_on_lines(1.5, [line], np.float64) == 0.0
    # across a change of branch (a jump) nothing in between is matched
    assert nearest_on_lines(2.5, [line], np.float64) > 1e14


def _sigma(x):
    return 1 / (1 + np.exp(-x))


class _TextbookGradient:
    """sigmoid_cross_entropy with the textbook gradient pw·y'(σ(x) - 1) + (1 - y')σ(x), σ naive:
    0 at logit 40, target 1, where the answer is -4.2e-18."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *a, **k):
        return self.inner(*a, **k)

    def _grad(self, x, y, pos_weight=1.0, label_smoothing=0.0, reduction="none", weight=None):
        y = y * (1 - label_smoothing) + label_smoothing / 2
        s = _sigma(x)
        g = (pos_weight * y * (s - 1) + (1 - y) * s).astype(x.dtype)
        if weight is not None:
            g = g * weight
        return g

    def value_and_grad(self, x, y, reduction="mean", weight=None, **k):
        v, _ = self.inner.value_and_grad(x, y, reduction=reduction, weight=weight, **k)
        g = self._grad(x, y, weight=weight, **k)
        return v, g / len(x) if reduction == "mean" else g

    def grad_hess(self, x, y, **k):
        _, h = self.inner.grad_hess(x, y, **k)
        return self._grad(x, y, **k), h


def test_the_textbook_sigmoid_gradient_fails_the_gate(gate_samples):
    loss = BUILTINS["sigmoid_cross_entropy"]
    kernel = _TextbookGradient(symloss.loss("sigmoid_cross_entropy"))
    rows = verify.verify_loss(
        loss, kernel, dtypes=("float64",), samples=gate_samples, max_failures=1
    )
    (grad,) = [r for r in rows if r.quantity == "grad"]
    assert not grad.passed and grad.failed > 0 and "logits" in grad.worst_at


def test_verify_implementation_passes_a_careful_mse_and_fails_a_naive_one():
    def value(pred, target):
        return (pred - target) ** 2

    def grad(pred, target):
        return 2 * (pred - target)

    def naive_value(pred, target):  # x² - 2xy + y²: cancels for pred ≈ target
        return pred * pred - 2 * pred * target + target * target

    good = verify.verify_implementation("mse", value=value, grad=grad)
    assert good, str(good)
    bad = verify.verify_implementation("mse", value=naive_value)
    assert not bad
    assert [r.quantity for r in bad.failures] == ["value", "value"]
    assert "FAIL" in str(bad) and "worst at" in str(bad)
    first = verify.verify_implementation("mse", value=naive_value, max_failures=1)
    assert not first and len(first.rows) == 1
    (row,) = first.rows
    assert row.failed == 1 and row.stopped and "stopped at the failure limit" in str(first)
    assert sum(r.points for r in bad.rows) > row.points  # the other rows were not checked


def test_verify_implementation_checks_its_arguments():
    with pytest.raises(ValueError, match="at least one"):
        verify.verify_implementation("mse")
    with pytest.raises(TypeError, match="grad="):
        verify.verify_implementation("mse", grad=3)
    with pytest.raises(ValueError, match="unknown loss"):
        verify.verify_implementation("nope", value=abs)


def test_an_implementation_may_decline_parameters_and_is_counted():
    def value(pred, target, delta=1.0):
        if delta != 1.0:
            raise NotImplementedError
        r = np.abs(pred - target)
        return np.where(r < 1, r * r / 2, r - 0.5).astype(pred.dtype)

    report = verify.verify_implementation("huber", value=value, dtypes=("float64",))
    (row,) = report.rows
    assert row.dropped["declined"] > 0 and "declined" in str(report)


def test_cli_impl_holds_a_module_function_to_the_gate(tmp_path):
    impl = tmp_path / "my_mse.py"
    impl.write_text(
        "def value(pred, target):\n    return (pred - target) ** 2\n\n"
        "def naive(pred, target):\n    return pred * pred - 2 * pred * target + target * target\n"
    )
    cmd = [sys.executable, "-m", "symloss", "verify", "mse", "--dtype", "float64", "--impl"]
    ok = subprocess.run([*cmd, f"{impl}:value"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "all passed" in ok.stdout
    bad = subprocess.run([*cmd, f"{impl}:naive"], capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL" in bad.stdout


def test_readme_example_on_pytorch_bce(tmp_path):
    """The README's verify_implementation example, run as written (PyTorch's
    binary_cross_entropy_with_logits: its gradient is 0 at logit 57.4, target 1)."""
    import importlib.util
    import re
    from pathlib import Path

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"<!-- verify-implementation-example -->\n```python\n(.*?)```", text, re.S)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=1200
    )
    assert run.returncode == 0, run.stderr
    grad_rows = [
        line
        for line in run.stdout.splitlines()
        if line.startswith("sigmoid_cross_entropy") and " grad " in line
    ]
    assert grad_rows and all("FAIL" in line for line in grad_rows), run.stdout
    assert "stopped at the failure limit" in run.stdout, run.stdout


def test_the_reference_keeps_a_1_that_1_plus_e_to_the_x_loses_at_60_digits():
    """The SymPy Hessian of β·y·softplus(-x) + …, e^{-x}/(1 + e^{-x}) - e^{-2x}/(1 + e^{-x})²,
    is exactly 0 at x = -690 at 60 and 120 digits alike (1 + e^{690} rounds to e^{690}): two
    precisions agreed on the other term alone, 1/8 of the truth."""
    import mpmath

    from symloss.verify.reference import Reference

    x, y, b, dtype = -689.947298084207, 0.8217350097594859, 0.6095693498571635, "float64"
    with mpmath.workdps(50):
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        w = mpmath.mpf(b) * mpmath.mpf(y) + (1 - mpmath.mpf(b)) * (1 - mpmath.mpf(y))
        exact = float(np.asarray(float(s * (1 - s) * w)).astype(dtype))
    ref = Reference(BUILTINS["balanced_sigmoid_cross_entropy"])
    got = ref.evaluate("hess", {"logits": x, "target": y, "beta": b}, dtype)
    assert got == exact
