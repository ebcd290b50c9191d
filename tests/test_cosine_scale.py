"""cosine_distance at rows of extreme scale against mpmath on the plain formula.

1 - x·y/(max(‖x‖, ε)·max(‖y‖, ε)) does not change when x is scaled while ‖x‖ ≥ ε, but a kernel
that forms Σx² (or ‖x‖³ in the gradient) overflows at 1e154 and underflows at 1e-160 in
float64: it gave 0.5 and 0 for values near 1 and a zero gradient there.
"""

import mpmath as mp
import numpy as np
import pytest

import symloss

SCALES = {
    "float64": (1e-300, 1e-160, 1.0, 1e154, 1e300),
    "float32": (1e-37, 1e-20, 1.0, 1e19, 1e37),
}


def _reference(x, y, eps):
    """Value and gradients (w.r.t. x, y) of 1 - x·y/(max(‖x‖, ε)·max(‖y‖, ε)) at 60 digits,
    the gradient written out: ∂/∂x_j = -y_j/(X·Y) + [‖x‖ > ε]·(x·y)·x_j/(‖x‖²·X·Y) with
    X = max(‖x‖, ε), Y = max(‖y‖, ε)."""
    with mp.workdps(60):
        x = [mp.mpf(float(v)) for v in x]
        y = [mp.mpf(float(v)) for v in y]
        e = mp.mpf(float(eps))
        nx = mp.sqrt(mp.fsum(v * v for v in x))
        ny = mp.sqrt(mp.fsum(v * v for v in y))
        big_x, big_y = max(nx, e), max(ny, e)
        dot = mp.fsum(a * b for a, b in zip(x, y))
        value = 1 - dot / (big_x * big_y)

        def grad(u, v, nu, big_u):
            out = []
            for uj, vj in zip(u, v):
                g = -vj / (big_x * big_y)
                if nu > e:
                    g += dot * uj / (nu * nu * big_x * big_y)
                out.append(g)
            return out

        return value, grad(x, y, nx, big_x), grad(y, x, ny, big_y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("eps", [1e-8, 10.0])
def test_cosine_distance_at_extreme_scales(dtype, eps):
    rng = np.random.default_rng(7)
    base_x, base_y = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    loss = symloss.loss("cosine_distance")
    tol = 1e-13 if dtype == "float64" else 2e-6
    tiny = float(np.finfo(dtype).tiny)
    for s in SCALES[dtype]:
        x, y = (base_x * s).astype(dtype), (base_y * s).astype(dtype)
        value, (gx, gy) = loss.value_and_grad(x, y, eps=eps, reduction="none")
        plain = loss(x, y, eps=eps, reduction="none")
        for i in range(len(x)):
            ref, ref_gx, ref_gy = _reference(x[i], y[i], eps)
            assert abs(float(value[i]) - float(ref)) <= tol * max(1.0, abs(float(ref))), (s, i)
            assert abs(float(plain[i]) - float(ref)) <= tol * max(1.0, abs(float(ref))), (s, i)
            for got, want in ((gx[i], ref_gx), (gy[i], ref_gy)):
                want = np.array([float(w) for w in want])
                size = float(np.max(np.abs(want)))
                # components below tiny/ε lose digits to gradual underflow in any kernel
                allowed = tol * size + (tiny / np.finfo(dtype).eps if size < 1 else 0.0)
                err = np.max(np.abs(got.astype(np.float64) - want))
                assert err <= allowed, (s, i, got, want)
