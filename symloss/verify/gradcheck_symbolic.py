"""A candidate formula read in a loss's symbols, and the symbolic proof that it is the truth.

The proof: the difference truth - candidate, with every primitive in plain mathematics, is
folded into one Piecewise and each branch simplified, under a time limit; zero in every
branch is a proof, except on branches whose condition is an equality (a kink, where the
derivative is a convention), which are noted instead. It is tried as written (the cases of
the truth and of the candidate often match), then with |x|, sign, max, min and Heaviside as
Piecewise too (`reference.plain`), which splits the cases further.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

import sympy as sp

from ..definition.axes import S
from ..definition.spec import Loss, own_symbols
from .gradcheck_truth import j, kink_convention
from .reference import plain

__all__ = ["SYMBOLIC_SECONDS", "candidate_expr", "assumed", "time_limit", "is_kink", "prove"]

SYMBOLIC_SECONDS = 20.0


def candidate_expr(spec: Loss, candidate) -> sp.Expr:
    """The candidate (a string, parsed as in `symloss.define`, or a SymPy expression) in the
    loss's own symbols; a norm's candidate may use ``S``, a class-axis one ``j`` and ``C``."""
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
    own = {**spec.symbols, "S": S, "j": j}
    neither = (
        f"which are neither inputs {list(spec.input_names)} nor parameters {list(spec.parameters)}"
    )
    return own_symbols(candidate, own, "candidate", neither)


@contextmanager
def time_limit(seconds: float):
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


def assumed(spec: Loss) -> dict:
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


def is_kink(cond) -> bool:
    """A branch condition that holds only on a set of measure zero (an equality)."""
    if isinstance(cond, sp.Eq):
        return True
    return isinstance(cond, sp.And) and any(isinstance(a, sp.Eq) for a in cond.args)


def _branches_zero(diff: sp.Expr) -> tuple[bool, list[str]]:
    """(every branch of the folded ``diff`` is zero but on kinks, notes on those kinks)."""
    folded = sp.piecewise_fold(diff)
    branches = folded.args if isinstance(folded, sp.Piecewise) else ((folded, sp.true),)
    notes = []
    for expr, cond in branches:
        if cond is sp.false:
            continue
        if sp.simplify(expr) == 0:
            continue
        if is_kink(cond):
            notes.append(f"they differ where {cond} (a kink: a convention there)")
            continue
        return False, notes
    return True, notes


def prove(truth: sp.Expr, candidate: sp.Expr, assumed: dict) -> tuple[bool, list[str]]:
    """(proved, notes): the difference is zero branch by branch, as written or in Piecewise."""
    diff = kink_convention((truth - candidate).rewrite("math")).xreplace(assumed)
    notes = []
    try:
        with time_limit(SYMBOLIC_SECONDS):
            for form in (diff, plain(diff)):
                try:
                    proved, notes = _branches_zero(form)
                except TimeoutError:
                    raise
                except Exception as exc:  # SymPy cannot simplify this form
                    failed = type(exc).__name__
                    proved, notes = False, [f"symbolic simplification failed ({failed})"]
                if proved:
                    return True, notes
    except TimeoutError:
        return False, [f"symbolic simplification gave up after {SYMBOLIC_SECONDS:g} s"]
    return False, notes  # decided numerically
