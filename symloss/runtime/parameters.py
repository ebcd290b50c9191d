"""Checks of the values a call passes besides its arrays: a parameter in its range (as given and
as the kernel's dtype rounds it), a static switch among the values with kernels, an estimated
default; and the one label convention the elementwise losses convert, signs in {-1, +1}.
"""

from __future__ import annotations

import numpy as np


def _in_domain(x: float, pieces: tuple) -> bool:
    for p in pieces:
        if len(p) == 1:
            if x == p[0]:
                return True
            continue
        lo, hi, lc, hc = p
        if (lo < x or (lc and x == lo)) and (x < hi or (hc and x == hi)):
            return True
    return False


def array_in_domain(a: np.ndarray, pieces: tuple) -> np.ndarray:
    ok = np.zeros(a.shape, dtype=bool)
    for p in pieces:
        if len(p) == 1:
            ok |= a == p[0]
        else:
            lo, hi, lc, hc = p
            ok |= ((a > lo) | ((a == lo) & lc)) & ((a < hi) | ((a == hi) & hc))
    return ok


def _estimate(kind: str, inputs: dict[str, np.ndarray]) -> float:
    if kind == "negative_fraction":  # HED: β = |Y-| / |Y|, the mean of 1 - target
        target = inputs["target"]
        # No targets: no element uses β, and 1/2 lies in its range.
        return float(np.mean(1.0 - target, dtype=np.float64)) if target.size else 0.5
    raise AssertionError(kind)


def _rounded(value, dtype: np.dtype):
    """``value`` (a number or an array) in the kernel's ``dtype``, as the kernel will use it."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(value).astype(dtype) if np.ndim(value) else dtype.type(value)


def _out_of_range(name: str, p: dict, given: float, used: float, dtype: np.dtype) -> ValueError:
    """The error for a parameter outside its range: as given, or once rounded to ``dtype``."""
    origin = f" (estimated by {p['estimate']})" if p["estimate"] else ""
    if _in_domain(given, p["domain"]):  # in range as given, not in the kernel's dtype
        return ValueError(
            f"{name} must be in {p['domain_text']}; {given!r}{origin} rounds to {used!r} in "
            f"{dtype.name}"
        )
    return ValueError(f"{name} must be in {p['domain_text']}, got {given!r}{origin}")


def _check_array_param(name: str, p: dict, given: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``given`` in ``dtype`` if every value lies in the parameter's range there, else a
    ValueError naming one."""
    arr = _rounded(given, dtype)
    bad = ~(array_in_domain(given, p["domain"]) & array_in_domain(arr, p["domain"]))
    if bad.any():
        first = np.flatnonzero(bad.ravel())[0]
        used, value = float(arr.flat[first]), float(np.broadcast_to(given, arr.shape).flat[first])
        err = _out_of_range(name, p, value, used, dtype)
        raise ValueError(f"{err} among its values")
    return arr


def _scalar_param(name: str, p: dict, value, dtype: np.dtype):
    """A scalar parameter's value in the kernel's ``dtype``, checked to be a real number in its
    range as the kernel will use it (1e-300 is 0 in float32)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        if np.ndim(value) == 0 and isinstance(value, np.ndarray):
            value = value.item()
        else:
            kind = "a number or an array" if p["broadcast"] else "a real number"
            raise TypeError(f"{name} must be {kind}, got {value!r}")
    value = float(value)
    used = _rounded(value, dtype)
    if not (_in_domain(value, p["domain"]) and _in_domain(float(used), p["domain"])):
        raise _out_of_range(name, p, value, float(used), dtype)
    return used


def _switch(name: str, p: dict, value) -> bool | int:
    """A static parameter's value (the default when None): False or True for a switch, one of
    the integers its kernels were generated for otherwise."""
    value = p["default"] if value is None else value
    if not isinstance(p["default"], bool):
        allowed = [int(v) for (v,) in p["domain"]]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, one of {allowed}, got {value!r}")
        if int(value) not in allowed:
            raise ValueError(
                f"{name} must be one of {allowed} (the values with generated kernels), "
                f"got {value!r}"
            )
        return int(value)
    if value not in (False, True, 0, 1) or isinstance(value, float):
        raise ValueError(f"{name} must be False or True, got {value!r}")
    return bool(value)


def signs(target: np.ndarray, what: str) -> np.ndarray:
    """Labels in {-1, +1} as given; all in {0, 1}: 2y - 1 (TensorFlow's hinge); else an error."""
    from ..checks import label_counts  # Numba: imported on first need

    minus, zero, one, nan = label_counts(target)
    if minus + one + nan == target.size:
        return target
    if zero + one + nan == target.size:
        return 2 * target - 1
    finite = target[~np.isnan(target)]
    bad = finite[~((finite == -1) | (finite == 0) | (finite == 1))]
    example = repr(float(bad[0])) if bad.size else "both 0 and -1"  # 2.0, not np.float64(2.0)
    raise ValueError(
        f"{what} must hold labels in {{-1, +1}} or in {{0, 1}}, got {example} among them"
    )
