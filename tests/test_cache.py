"""A damaged or mismatched Numba cache entry is discarded with a warning naming its folder, and
the kernel compiled again (symloss/jitcache.py): never an error on every call, never the wrong
function."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import numpy as np, symloss
    x = np.linspace(-2.0, 3.0, 11)
    value = symloss.mse(x, 0.0)
    _, grad = symloss.loss("mse").value_and_grad(x, 0.0)
    assert abs(value - np.mean(x**2)) <= 1e-15 * value, value
    assert np.allclose(grad, 2 * x / x.size, rtol=1e-15, atol=0), grad
    print("ok")
    """
)


def _run(cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), SYMLOSS_NUMBA_CACHE="1")
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _entries(cache: Path) -> tuple[Path, Path]:
    """The data files of mse's mean-value kernel and of its value-and-gradient kernel."""
    value = sorted(cache.rglob("mse.value_sum_f64-*.nbc"))
    grad = sorted(cache.rglob("mse.value_grad_sum_f64-*.nbc"))
    assert len(value) == 1 and len(grad) == 1, list(cache.rglob("*"))
    return value[0], grad[0]


def _swap(value: Path, grad: Path) -> None:
    tmp = value.with_suffix(".tmp")
    shutil.move(value, tmp)
    shutil.move(grad, value)
    shutil.move(tmp, grad)


def _truncate(value: Path, grad: Path) -> None:
    value.write_bytes(value.read_bytes()[:200])


def _flip_a_bit(value: Path, grad: Path) -> None:
    data = bytearray(grad.read_bytes())
    data[len(data) // 2] ^= 0x10
    grad.write_bytes(bytes(data))


def _garbage_index(value: Path, grad: Path) -> None:
    next(value.parent.glob("mse.value_sum_f64-*.nbi")).write_bytes(b"not a pickle")


@pytest.mark.parametrize("damage", [_swap, _truncate, _flip_a_bit, _garbage_index])
def test_a_damaged_entry_is_compiled_again_with_a_warning(damage, tmp_path):
    cache = tmp_path / "numba"
    first = _run(cache)
    assert first.stdout.strip() == "ok", first.stderr[-2000:]
    damage(*_entries(cache))
    second = _run(cache)
    assert second.stdout.strip() == "ok", second.stderr[-2000:]
    assert "CorruptCacheWarning" in second.stderr and str(cache) in second.stderr, second.stderr
    third = _run(cache)  # the entry compiled again was saved, and is used
    assert third.stdout.strip() == "ok" and "CorruptCacheWarning" not in third.stderr, third.stderr
