"""A process that has used symloss can fork, and its children can use it (symloss/threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, sys
    import numpy as np
    import symloss

    x = np.linspace(-3.0, 3.0, 100_000)

    def work(shift):
        return float(symloss.sigmoid_cross_entropy(x + shift, (x > 0).astype(float)))

    if __name__ == "__main__":
        expected = [work(s) for s in range(3)]  # the parent runs parallel kernels first
        with mp.get_context(sys.argv[1]).Pool(2) as pool:
            got = pool.map(work, range(3))
        assert got == expected, (got, expected)
        print("ok")
    """
)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_children_compute_what_the_parent_computes(method, tmp_path):
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    # Under GNU OpenMP the children terminate and the pool waits for ever: the timeout fails it.
    run = subprocess.run(
        [sys.executable, str(script), method], capture_output=True, text=True, timeout=240, env=env
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_a_threading_layer_the_user_chose_is_kept():
    code = "import numba, symloss; print(numba.config.THREADING_LAYER)"
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "workqueue", out.stderr
    env.pop("NUMBA_THREADING_LAYER")
    for first in (code, code.replace("import numba, symloss", "import symloss, numba")):
        out = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, env=env)
        assert out.stdout.strip() == "forksafe", out.stderr


THREADS = textwrap.dedent(
    """
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import symloss

    x = np.linspace(-3.0, 3.0, 2_000_000)
    k = symloss.loss("sigmoid_cross_entropy")

    def work(shift):
        value, grad = k.value_and_grad(x + shift, (x > 0).astype(float))
        return float(value), float(grad.sum())

    expected = [work(s) for s in range(8)]
    with ThreadPoolExecutor(4) as pool:  # parallel kernels launched from several threads
        got = list(pool.map(work, range(8)))
    assert got == expected, (got, expected)
    print("ok")
    """
)


def test_threads_may_call_kernels_at_once():
    # Under the workqueue layer a second thread launching a parallel kernel while one runs
    # aborted the process ("Concurrent access has been detected"): launches are serialized.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    run = subprocess.run(
        [sys.executable, "-c", THREADS], capture_output=True, text=True, timeout=240, env=env
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
