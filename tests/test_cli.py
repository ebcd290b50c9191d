"""The ``symloss`` command, run as a user runs it (a subprocess) and in-process for failures."""

import subprocess
import sys
from pathlib import Path

import pytest

import symloss
from symloss import cli, codegen, runtime


def _symloss(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symloss", *args], capture_output=True, text=True, timeout=600
    )


def test_list_names_every_loss_with_a_description():
    out = _symloss("list")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == symloss.names()
    assert all(len(ln.split()) > 3 for ln in lines)


def test_show_prints_parameters_plain_text_and_latex():
    out = _symloss("show", "huber")
    assert out.returncode == 0
    assert "delta" in out.stdout and "default 1.0" in out.stdout
    assert "d2/dpred2" in out.stdout and "Piecewise" in out.stdout
    assert r"\delta" in out.stdout
    latex = _symloss("show", "huber", "--latex").stdout
    assert r"\delta" in latex and "Piecewise" not in latex


def test_unknown_loss_exits_2_with_a_suggestion():
    out = _symloss("show", "hubr")
    assert out.returncode == 2
    assert "unknown loss 'hubr'" in out.stderr and "huber" in out.stderr


def test_verify_prints_a_table_and_passes():
    out = _symloss("verify", "mse", "--dtype", "float64")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("mse")]
    assert {ln.split()[1] for ln in rows} >= {"value", "grad", "hess"}
    assert rows and all(ln.split()[9] == "pass" for ln in rows), rows  # the result column
    assert "verifying mse" in out.stderr  # progress goes to stderr


def test_verify_exits_nonzero_on_a_wrong_kernel(monkeypatch, capsys):
    inner = runtime.loss("mae")

    class Wrong:
        def __call__(self, *a, **k):
            return inner(*a, **k)

        def value_and_grad(self, *a, **k):
            v, g = inner.value_and_grad(*a, **k)
            return v, -g

        def grad_hess(self, *a, **k):
            return inner.grad_hess(*a, **k)

    monkeypatch.setattr(runtime, "loss", lambda name: Wrong())
    assert cli.main(["verify", "mae", "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "worst at" in out


def test_generate_check_names_stale_files(monkeypatch, capsys):
    assert cli.main(["generate", "--check"]) == 0
    monkeypatch.setattr(codegen, "stale", lambda files, out=None: ["kernels/huber.py"])
    from symloss import backends

    # the report, not the rendering again (which the first call and test_codegen check)
    monkeypatch.setattr(backends, "render", lambda definitions, bs: {"kernels/huber.py": ""})
    assert cli.main(["generate", "--check"]) == 1
    assert "stale: generated/kernels/huber.py" in capsys.readouterr().out


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "symloss"  # beside the interpreter, in its venv
    if not exe.exists():
        pytest.skip(f"no symloss console script beside {sys.executable}")
    out = subprocess.run([str(exe), "list"], capture_output=True, text=True)
    assert out.returncode == 0
    assert [ln.split()[0] for ln in out.stdout.splitlines()] == symloss.names()


def test_docs_only_builds_a_subset_elsewhere(tmp_path):
    pytest.importorskip("matplotlib")
    out = _symloss("docs", "--only", "huber", "ctc", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    tex = (tmp_path / "losses.tex").read_text()
    assert r"\texttt{huber}" in tex and r"\texttt{ctc}" in tex and r"\texttt{mse}" not in tex
    assert "### `huber`" in (tmp_path / "losses.md").read_text()
    assert _symloss("docs", "--only", "hubr").returncode != 0  # unknown: an error, no files


def test_show_prints_the_recurrence_of_a_sequence_loss():
    out = _symloss("show", "ctc")
    assert out.returncode == 0
    assert "dV/dstay = exp(-V + emit + stay)" in out.stdout and r"\alpha_t(s)" in out.stdout
