"""Check a gradient someone derived (a formula, or a function in their code) against the
derivative symloss derives from the definition.

``verify_gradient(loss, candidate, wrt=...)`` returns a `GradientReport`; ``bool(report)`` is the
verdict and ``str(report)`` says how it was reached:

* a candidate formula (a SymPy expression or a string, parsed as in `symloss.define`) is first
  compared symbolically: the difference, with every primitive in plain mathematics and
  |x|, sign, max, min and Heaviside as Piecewise, is folded into one Piecewise and each branch
  simplified; zero in every branch (branches on an equality, a kink where the derivative is a
  convention, excepted) is a proof. Otherwise both are evaluated in mpmath at 50 digits at
  random points, the parameters sampled over their valid range (not only the default), and
  the largest difference decides, with the point as a counterexample;
* a candidate callable ``f(pred, target, **params)`` on NumPy arrays is evaluated at random
  and extreme float64 points and compared with the derived derivative evaluated in mpmath at
  those exact points: it passes when |f - ∂ℓ| ≤ rtol·|∂ℓ| + atol everywhere the derivative is
  finite.

Elementwise losses: the candidate is ∂ℓ/∂wrt per element. Norms (l1, l2): a formula in the
inputs and ``S`` = Σ ℓ (g'(S)·ℓ'), a callable returns the gradient of the norm of its arrays.
Class-axis losses: the candidate is the component ∂ℓ/∂v_j of one sample, a formula in ``j``,
``c``, the label and the vectors (``exp(logits[j])/class_sum(exp(logits[c])) - (1 if j ==
target else 0)``), checked numerically with C = 5 against the definition's sums written out
and differentiated term by term; a callable takes one batch (N, C) and returns the gradient of
the sum over samples.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from .. import derive
from ..definition.spec import Loss, own_symbols
from ..lowering import piecewise_forms

__all__ = ["verify_gradient", "GradientReport"]

DIGITS = 50
SYMBOLIC_SECONDS = 20.0
AGREE = 1e-30  # relative difference of two formulas at DIGITS digits that counts as equal


@dataclass
class GradientReport:
    """The verdict on a candidate gradient (``bool(report)``) and how it was reached."""

    loss: str
    wrt: str
    verdict: bool
    method: str  # "symbolic", "numeric" or "callable"
    detail: str
    points: int = 0
    worst_error: float = 0.0
    counterexample: dict | None = None
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.verdict

    def __str__(self) -> str:
        head = "CORRECT" if self.verdict else "WRONG"
        lines = [f"{head}: candidate ∂{self.loss}/∂{self.wrt} ({self.method}) — {self.detail}"]
        if self.counterexample is not None:
            ce = ", ".join(f"{k}={v!r}" for k, v in self.counterexample.items())
            lines.append(f"  counterexample: {ce}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__


def verify_gradient(
    loss: str | Loss,
    candidate: str | sp.Expr | Callable,
    *,
    wrt: str | None = None,
    points: int = 300,
    seed: int = 0,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    symbolic: bool = True,
) -> GradientReport:
    """Is ``candidate`` the derivative of ``loss`` (a name or a `symloss.Loss`) w.r.t.
    ``wrt`` (default: the first differentiable input)? See the module docstring for how each
    kind of candidate is decided; ``rtol``/``atol`` apply to callables only."""
    spec = _spec(loss)
    wrt = spec.check_wrt(wrt)
    rng = np.random.default_rng(seed)
    if callable(candidate) and not isinstance(candidate, (str, sp.Basic)):
        if spec.family == "classes":
            return _callable_classes(spec, wrt, candidate, rng, rtol, atol)
        return _callable_elementwise(spec, wrt, candidate, rng, points, rtol, atol)
    expr = _candidate_expr(spec, candidate)
    notes = []
    if symbolic:
        proved, notes = _prove(_truth(spec, wrt), expr, _assumed(spec))
        if proved:
            how = (
                "proved equal to the derived derivative by simplifying their difference "
                "(branch by branch), with every parameter a symbol"
            )
            return GradientReport(spec.name, wrt, True, "symbolic", how, notes=notes)
    compare = _formula_classes if spec.family == "classes" else _formula_elementwise
    worst, worst_at, used, how = compare(spec, wrt, expr, rng, points)
    ok = worst <= AGREE
    tried = "not proved symbolically; " if symbolic else ""
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "numeric",
        f"{tried}{how}: largest relative difference {worst:.3g}",
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
        notes=notes,
    )


# -- inputs ------------------------------------------------------------------------------------


def _spec(loss) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        from .. import get

        spec = get(loss)
        if not isinstance(spec, Loss):
            raise TypeError(
                f"{loss} is a sequence loss (a dynamic programme): its gradient has no closed "
                "form to compare with; `symloss verify` checks it against brute force"
            )
        return spec
    raise TypeError(f"loss must be a name or a symloss.Loss, got {type(loss).__name__}")


def _candidate_expr(spec: Loss, candidate) -> sp.Expr:
    names = [*spec.input_names, *spec.parameters]
    vectors = {i.name for i in spec.inputs if i.classes}
    vectors |= {k for k, p in spec.parameters.items() if p.per_class}
    labels = {i.name for i in spec.inputs if i.labels == "classes"}
    if spec.family == "norm":
        names.append("S")
    if isinstance(candidate, str):
        from ..definition.parse import parse_formula

        indices = labels | ({"j"} if spec.family == "classes" else set())
        candidate = parse_formula(
            candidate, names, vectors=vectors, indices=indices, what="candidate"
        )
    if not isinstance(candidate, sp.Expr):
        raise TypeError(
            "candidate must be a formula (string or SymPy expression) or a callable, "
            f"got {type(candidate).__name__}"
        )
    own = {**spec.symbols, "S": derive.S, "j": derive.j}
    neither = (
        f"which are neither inputs {list(spec.input_names)} nor parameters {list(spec.parameters)}"
    )
    return own_symbols(candidate, own, "candidate", neither)


def _truth(spec: Loss, wrt: str) -> sp.Expr:
    if spec.family == "norm":
        return derive.outer_chain(spec.element, spec.outer, spec.symbol(wrt), 1)
    return spec.derivative(wrt)


# -- symbolic proof ---------------------------------------------------------------------------


@contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError after ``seconds`` (main thread on POSIX; no limit elsewhere)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _assumed(spec: Loss) -> dict:
    """Symbols carrying what the domains say (positive, non-negative), for simplification."""
    out = {}
    domains = {i.name: i.domain for i in spec.inputs}
    domains.update({k: p.domain for k, p in spec.parameters.items()})
    for name, dom in domains.items():
        s = spec.symbols.get(name)
        if not isinstance(s, sp.Symbol) or not s.is_real:
            continue
        if dom.is_subset(sp.Interval.open(0, sp.oo)):
            out[s] = sp.Symbol(name, positive=True)
        elif dom.is_subset(sp.Interval(0, sp.oo)):
            out[s] = sp.Symbol(name, nonnegative=True)
    return out


def _is_kink(cond) -> bool:
    """A branch condition that holds only on a set of measure zero (an equality)."""
    if isinstance(cond, sp.Eq):
        return True
    return isinstance(cond, sp.And) and any(isinstance(a, sp.Eq) for a in cond.args)


def _prove(truth: sp.Expr, candidate: sp.Expr, assumed: dict) -> tuple[bool, list[str]]:
    """(proved, notes): the difference is zero branch by branch."""
    diff = (truth - candidate).rewrite("math")
    diff = piecewise_forms(derive._kink_policy(diff).replace(sp.Abs, lambda u: sp.Max(u, -u)))
    diff = diff.xreplace(assumed)
    notes = []
    try:
        with _time_limit(SYMBOLIC_SECONDS):
            folded = sp.piecewise_fold(diff)
            branches = folded.args if isinstance(folded, sp.Piecewise) else ((folded, sp.true),)
            for expr, cond in branches:
                if cond is sp.false:
                    continue
                if sp.simplify(expr) == 0:
                    continue
                if _is_kink(cond):
                    notes.append(f"they differ where {cond} (a kink: a convention there)")
                    continue
                return False, notes
    except TimeoutError:
        return False, [f"symbolic simplification gave up after {SYMBOLIC_SECONDS:g} s"]
    except Exception as exc:  # SymPy cannot simplify this form: decide numerically
        return False, [f"symbolic simplification failed ({type(exc).__name__})"]
    return True, notes


# -- sampling ----------------------------------------------------------------------------------


def _sample(domain: sp.Set, rng: np.random.Generator) -> float:
    if isinstance(domain, sp.FiniteSet):
        return float(rng.choice([float(v) for v in domain.args]))
    if isinstance(domain, sp.Union):
        return _sample(domain.args[rng.integers(len(domain.args))], rng)
    lo, hi = float(domain.inf), float(domain.sup)
    if math.isfinite(lo) and math.isfinite(hi):
        return float(lo + (hi - lo) * rng.uniform(0.001, 0.999))
    if math.isfinite(lo):
        return float(lo + 10.0 ** rng.uniform(-3, 3))
    if math.isfinite(hi):
        return float(hi - 10.0 ** rng.uniform(-3, 3))
    if rng.random() < 0.5:
        return float(rng.normal(0, 3))
    return float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-3, 3))


def _param_point(spec: Loss, rng) -> dict[str, float]:
    out = {}
    for k, p in spec.parameters.items():
        if p.static:
            out[k] = bool(rng.integers(2)) if isinstance(p.default, bool) else rng.choice(p.values)
        elif not p.per_class:
            out[k] = _sample(p.domain, rng)
    return out


def _elementwise_points(spec: Loss, wrt: str, rng, n: int) -> list[dict[str, float]]:
    """Random points; a third put the input ``wrt`` at a parameter's scale from the next
    input (residuals near thresholds such as δ and 2δ)."""
    out = []
    for k in range(n):
        pt = _param_point(spec, rng)
        for i in spec.inputs:
            pt[i.name] = _sample(i.domain, rng)
        scales = [
            abs(v)
            for nm, v in pt.items()
            if nm in spec.parameters and v and not isinstance(v, bool)
        ]
        others = [i.name for i in spec.inputs if i.name != wrt and i.domain == sp.S.Reals]
        if k % 3 == 2 and others:
            scale = float(rng.choice(scales)) if scales else 1.0
            step = float(rng.choice([-1.0, 1.0]) * scale * 10.0 ** rng.uniform(-1, 1))
            pt[wrt] = pt[others[0]] + step
        if spec.family == "norm":
            pt["S"] = 10.0 ** rng.uniform(-3, 3)
        out.append(pt)
    return out


def _undefined(*args):
    raise ZeroDivisionError("the expression is undefined (a division by zero)")


def _mp(symbols: list, expr: sp.Expr):
    if expr.has(sp.zoo, sp.nan):
        return _undefined
    from .reference import mp_function, plain

    return mp_function(symbols, plain(expr))


def _eval(f, at: list):
    try:
        v = f(*at)
    except (ZeroDivisionError, ValueError, OverflowError):
        return None
    if isinstance(v, (mpmath.mpc, complex)) or not mpmath.isfinite(v):
        return None
    return v


# -- formulas ----------------------------------------------------------------------------------


def _formula_elementwise(spec: Loss, wrt, candidate, rng, n: int):
    """(worst relative difference, its point, points used, how) of candidate vs truth."""
    truth = _truth(spec, wrt)
    names = [*spec.input_names, *spec.parameters] + (["S"] if spec.family == "norm" else [])
    symbols = [derive.S if nm == "S" else spec.symbol(nm) for nm in names]
    f_truth, f_cand = _mp(symbols, truth), _mp(symbols, candidate)
    worst, worst_at, used = 0.0, None, 0
    with mpmath.workdps(DIGITS):
        for pt in _elementwise_points(spec, wrt, rng, n):
            at = [mpmath.mpf(float(pt[nm])) for nm in names]
            t = _eval(f_truth, at)
            if t is None:
                continue
            cnd = _eval(f_cand, at)
            used += 1
            err = math.inf if cnd is None else _relative(cnd, t)
            if err > worst:
                worst, worst_at = err, dict(pt, truth=float(t), candidate=_float(cnd))
    return (
        worst,
        worst_at,
        used,
        f"compared in mpmath at {DIGITS} digits at {used} random points, parameters sampled",
    )


def _relative(a, b) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else float(abs(a - b) / scale)


def _float(v):
    return None if v is None else float(v)


# -- callables ---------------------------------------------------------------------------------

EXTREMES = (0.0, 1e-12, -1e-12, 1e-6, -1e-6, 0.5, -0.5, 30.0, -30.0, 1e3, -1e3, 1e6, -1e6)


def _callable_error(g: float, t, rtol: float, atol: float) -> float:
    """|g - t| / (rtol·|t| + atol); 0 where t overflows float64 and g is that infinity."""
    if math.isinf(float(t)) and g == float(t):
        return 0.0
    if not math.isfinite(g):
        return math.inf
    return float(abs(mpmath.mpf(float(g)) - t) / (rtol * abs(t) + atol))


def _callable_elementwise(spec: Loss, wrt, f, rng, n: int, rtol, atol):
    truth = _truth(spec, wrt)
    names = [*spec.input_names, *spec.parameters]
    symbols = [spec.symbol(nm) for nm in names]
    norm = spec.family == "norm"
    if norm:
        f_d1 = _mp([derive.S, *symbols], truth)
        f_ell = _mp(symbols, spec.element)
    else:
        f_truth = _mp(symbols, truth)
    groups = []  # (params, {input: array})
    for g in range(12):
        params = _param_point(spec, rng)
        pts = _elementwise_points(spec, wrt, rng, n // 12 if not norm else 6)
        arrays = {i.name: np.array([p[i.name] for p in pts]) for i in spec.inputs}
        if g == 0 and not norm and spec.inputs[0].domain == sp.S.Reals:  # extremes of wrt
            m = len(EXTREMES)
            for i in spec.inputs:
                arrays[i.name] = arrays[i.name][:1].repeat(m) if i.name != wrt else None
            arrays[wrt] = np.array(EXTREMES)
        groups.append((params, arrays))
    worst, worst_at, used = 0.0, None, 0
    for params, arrays in groups:
        args = [arrays[i.name] for i in spec.inputs]
        try:
            got = np.asarray(f(*args, **params), dtype=np.float64)
        except Exception as exc:  # the user's code failed: that is the report
            return GradientReport(
                spec.name,
                wrt,
                False,
                "callable",
                f"the candidate raised {type(exc).__name__}: {exc}",
                counterexample={**{k: v.tolist() for k, v in arrays.items()}, **params},
            )
        if got.shape != args[0].shape:
            return GradientReport(
                spec.name,
                wrt,
                False,
                "callable",
                f"the candidate returned shape {got.shape} for inputs of shape {args[0].shape}",
            )
        with mpmath.workdps(DIGITS):
            pvals = [mpmath.mpf(float(params[k])) for k in spec.parameters]
            rows = [
                [mpmath.mpf(float(arrays[nm][k])) for nm in spec.input_names]
                for k in range(len(args[0]))
            ]
            if norm:
                ells = [_eval(f_ell, [*row, *pvals]) for row in rows]
                if any(e is None for e in ells):
                    continue
                S = mpmath.fsum(ells)
            for k, row in enumerate(rows):
                t = _eval(f_d1, [S, *row, *pvals]) if norm else _eval(f_truth, [*row, *pvals])
                if t is None:
                    continue
                used += 1
                g = got[k]
                err = _callable_error(g, t, rtol, atol)
                if err > worst:
                    pt = {nm: float(arrays[nm][k]) for nm in spec.input_names}
                    worst, worst_at = err, dict(pt, **params, truth=float(t), candidate=float(g))
    ok = worst <= 1.0
    detail = (
        f"compared with the derived derivative in mpmath at {used} float64 points (random, "
        f"parameters sampled, and extremes): worst |f - ∂ℓ| / (rtol·|∂ℓ| + atol) = {worst:.3g} "
        f"(rtol={rtol:g}, atol={atol:g})"
    )
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "callable",
        detail,
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
    )


# -- class-axis losses -------------------------------------------------------------------------


def _class_setups(spec: Loss, wrt: str, callable_candidate: bool):
    """[(static values, ClassReference, offset of wrt's components in its gradient)], one
    per combination of the static parameters."""
    import itertools

    from .reference import CLASS_COUNT, ClassReference

    if callable_candidate and (spec.frontend is not None or any(i.by_label for i in spec.inputs)):
        raise NotImplementedError(
            f"verify_gradient takes formulas for {spec.name} (its kernels take other inputs "
            "than its definition: a linear front end or a table indexed by label); "
            "`symloss verify` checks its kernels"
        )
    start = 0
    for nm in (i.name for i in spec.inputs if i.differentiable):
        if nm == wrt:
            break
        start += CLASS_COUNT if isinstance(spec.symbol(nm), sp.IndexedBase) else 1
    statics = [k for k, p in spec.parameters.items() if p.static]
    out = []
    for values in itertools.product(*(spec.parameters[k].values for k in statics)):
        static = {spec.symbol(k): int(v) for k, v in zip(statics, values)}
        out.append((static, ClassReference(spec, static=static), start))
    return out


def _class_arguments(spec: Loss, ref, rng) -> tuple[list, int, dict]:
    """One random sample: (arguments of ref, label, named values)."""
    n = ref.n
    first = spec.inputs[0].domain
    if first == sp.S.Reals:
        z = rng.normal(0, 3, n) * (10.0 if rng.random() < 0.2 else 1.0)
    else:
        z = np.array([_sample(first, rng) for _ in range(n)])
    named = {spec.inputs[0].name: z}
    args = list(z)
    for nm in ref.data:
        dom = next(i.domain for i in spec.inputs if i.name == nm)
        v = np.array([_sample(dom, rng) for _ in range(n)])
        if dom.is_subset(sp.Interval(0, 1)):
            v = v / v.sum()
        named[nm] = v
        args += list(v)
    for nm in ref.per_sample:
        if nm == spec.inputs[0].name:
            continue
        dom = next(i.domain for i in spec.inputs if i.name == nm)
        named[nm] = _sample(dom, rng)
        args.append(named[nm])
    for nm in ref.vectors:
        v = rng.uniform(0.1, 3.0, n)
        named[nm] = v
        args += list(v)
    params = _param_point(spec, rng)
    for s in ref.scalars:
        args.append(params[s.name])
        named[s.name] = params[s.name]
    y = int(rng.integers(n)) if ref.labelled else 0
    if spec.frontend == "linear":  # ‖x‖ and ‖W_y‖ that a linear layer could give with f = z
        cos = float(np.sign(z[y]) or 1.0) * rng.uniform(0.05, 1.0)
        norm = math.sqrt(abs(z[y] / cos)) if z[y] else 1.0
        k = len(z) + sum(len(named[nm]) for nm in ref.data)
        for nm in ref.per_sample:
            named[nm] = norm
            args[k] = norm
            k += 1
    return args, y, named


def _formula_classes(spec: Loss, wrt, candidate, rng, n_points: int):
    """As `_formula_elementwise`, component by component with C = CLASS_COUNT (60 samples
    per static variant; ``n_points`` is for the elementwise form)."""
    from ..definition.spec import C
    from .reference import CLASS_COUNT

    label = next((i.name for i in spec.inputs if i.labels == "classes"), None)
    vector = isinstance(spec.symbol(wrt), sp.IndexedBase)
    worst, worst_at, used = 0.0, None, 0
    for static, ref, start in _class_setups(spec, wrt, callable_candidate=False):
        n = ref.n
        plain = {}
        z = spec.symbol(spec.inputs[0].name)
        for k in range(n):
            plain[z[k]] = ref.zs[k]
        for nm, ws in ref.ws.items():
            plain.update({spec.symbol(nm)[k]: ws[k] for k in range(n)})
        funcs = {}
        for y in range(n if ref.labelled else 1):
            for k in range(n if vector else 1):
                subs = {C: n, derive.j: k, **static}
                if label is not None:
                    subs[spec.symbol(label)] = y
                e = candidate.subs(subs).doit().xreplace(plain)
                funcs[(y, k)] = _mp(ref.args, e)
        with mpmath.workdps(DIGITS):
            for _ in range(60):
                args, y, named = _class_arguments(spec, ref, rng)
                at = [mpmath.mpf(float(a)) for a in args]
                for k in range(n if vector else 1):
                    t = _eval(ref.functions("grad", y)[0][start + k], at)
                    if t is None:
                        continue
                    cnd = _eval(funcs[(y, k)], at)
                    used += 1
                    err = math.inf if cnd is None else _relative(cnd, t)
                    if err > worst:
                        worst = err
                        worst_at = {
                            **{a: np.asarray(v).tolist() for a, v in named.items()},
                            **{str(sym): v for sym, v in static.items()},
                            **({label: y} if label else {}),
                            "j": k,
                            "truth": float(t),
                            "candidate": _float(cnd),
                        }
    how = (
        f"compared in mpmath at {DIGITS} digits with the definition's sums written out for "
        f"C = {CLASS_COUNT} and differentiated term by term, {used} components"
    )
    return worst, worst_at, used, how


def _callable_classes(spec: Loss, wrt, f, rng, rtol, atol):
    setups = _class_setups(spec, wrt, callable_candidate=True)
    if len(setups) > 1:
        raise NotImplementedError(
            f"verify_gradient takes formulas for {spec.name} (a loss with static parameters)"
        )
    ((_, ref, start),) = setups
    n = ref.n
    label = next((i.name for i in spec.inputs if i.labels == "classes"), None)
    vector = isinstance(spec.symbol(wrt), sp.IndexedBase)
    samples = [_class_arguments(spec, ref, rng) for _ in range(40)]
    # one batch: scalar parameters shared, so take the first sample's
    args0, _, named0 = samples[0]
    shared = {s.name: named0[s.name] for s in ref.scalars}
    batch = {}
    for i in spec.inputs:
        if i.labels == "classes":
            batch[i.name] = np.array([y for _, y, _ in samples])
        else:
            batch[i.name] = np.array([named[i.name] for _, _, named in samples])
    kwargs = dict(shared)
    kwargs.update({nm: named0[nm] for nm in ref.vectors})
    try:
        got = np.asarray(f(*(batch[i.name] for i in spec.inputs), **kwargs), dtype=np.float64)
    except Exception as exc:
        return GradientReport(
            spec.name, wrt, False, "callable", f"the candidate raised {type(exc).__name__}: {exc}"
        )
    want = (len(samples), n) if vector else (len(samples),)
    if got.shape != want:
        return GradientReport(
            spec.name,
            wrt,
            False,
            "callable",
            f"the candidate returned shape {got.shape}, not {want}",
        )
    worst, worst_at, used = 0.0, None, 0
    with mpmath.workdps(DIGITS):
        for r, (args, y, named) in enumerate(samples):
            args = list(args)
            # shared parameters: replace this sample's scalars and per-class vectors
            tail = [w for nm in ref.vectors for w in named0[nm]] + [
                shared[s.name] for s in ref.scalars
            ]
            args[len(args) - len(tail) :] = tail
            at = [mpmath.mpf(float(a)) for a in args]
            for k in range(n if vector else 1):
                t = _eval(ref.functions("grad", y)[0][start + k], at)
                if t is None:
                    continue
                g = float(got[r, k] if vector else got[r])
                used += 1
                err = _callable_error(g, t, rtol, atol)
                if err > worst:
                    worst = err
                    worst_at = {
                        "row": r,
                        **{a: np.asarray(v).tolist() for a, v in named.items()},
                        **({label: y} if label else {}),
                        "j": k,
                        "truth": float(t),
                        "candidate": g,
                    }
    ok = worst <= 1.0
    detail = (
        f"one batch of {len(samples)} samples (C = {n}) against the definition differentiated "
        f"term by term in mpmath, {used} components: worst |f - ∂ℓ| / (rtol·|∂ℓ| + atol) = "
        f"{worst:.3g} (rtol={rtol:g}, atol={atol:g})"
    )
    return GradientReport(
        spec.name,
        wrt,
        ok,
        "callable",
        detail,
        points=used,
        worst_error=worst,
        counterexample=None if ok else worst_at,
    )
