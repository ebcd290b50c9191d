"""The ``symloss`` command: list, show, generate, verify, and ``all`` (the main job).

symloss list                      names and one-line descriptions
symloss show NAME [--latex]       parameters, formula and derivatives (LaTeX and plain text)
symloss generate [--check]        rewrite generated/ from the definitions (or report drift)
symloss verify [NAME ...]         kernels against the definitions in high precision
symloss docs [--only NAME ...]    the LaTeX / Markdown reference and figures (generated/docs)
symloss all                       generate, docs, then verify everything
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import runtime


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _specs(names: Sequence[str] | None):
    from .catalog import ALL

    by_name = {spec.name: spec for spec in ALL}
    if not names:
        return list(ALL)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        runtime.loss(unknown[0])  # raises the "unknown loss" error with suggestions
    return [by_name[n] for n in names]


def cmd_list(args) -> int:
    for name in runtime.names():
        doc = runtime.loss(name).__doc__.split("\n")[0]
        print(f"{name:32s} {doc}")
    return 0


def cmd_show(args) -> int:
    import sympy as sp

    (loss,) = _specs([args.name])
    if args.latex:
        print(loss.latex())
        return 0
    if not hasattr(loss, "inputs"):  # a sequence loss: its recurrence
        print(f"{loss.name}: {loss.doc}")
        print("family: sequence (a dynamic programme)")
        for k, (default, domain) in loss.params.items():
            print(f"  {k:16s} default {default!r}, in {domain}")
        print(f"\ncell: V = {sp.sstr(loss.cell)}")
        for u, d in loss.partials().items():
            print(f"  dV/d{u} = {sp.sstr(d)}")
        print("\nrecurrence (LaTeX):")
        print(loss.latex())
        return 0
    print(f"{loss.name}: {loss.doc}")
    print(f"family: {loss.family}")
    print("inputs:")
    for i in loss.inputs:
        role = "differentiable" if i.differentiable else "constant"
        print(f"  {i.name:16s} {role}, in {i.domain}" + (f"; {i.doc}" if i.doc else ""))
    print("parameters:" if loss.parameters else "parameters: none")
    for k, p in loss.parameters.items():
        kind = " (static switch)" if p.static else " (scalar or array)" if p.broadcast else ""
        print(f"  {k:16s} default {p.default!r}, in {p.domain}{kind}; {p.doc}")
    wrt = loss.differentiable[0]
    if loss.family == "classes":  # a vector gradient: its component j, for j in [0, C)
        rows = [("loss", loss.expr)] + [
            (f"d/d{v.name}[j]" if v.classes else f"d/d{v.name}", loss.derivative(v.name, 1))
            for v in loss.inputs
            if v.differentiable
        ]
    else:
        rows = [
            ("loss", loss.expr),
            (f"d/d{wrt}", loss.derivative(wrt, 1)),
            (f"d2/d{wrt}2", loss.derivative(wrt, 2)),
        ]
    print("\nplain text:")
    for label, e in rows:
        print(f"  {label:12s} = {sp.sstr(e)}")
    print("\nLaTeX:")
    print(loss.latex())
    return 0


def cmd_generate(args) -> int:
    from . import codegen
    from .catalog import ALL

    t0 = time.perf_counter()
    _progress(f"rendering {len(ALL)} losses ...")
    files = codegen.render(ALL)
    if args.check:
        stale = codegen.stale(files)
        for rel in stale:
            print(f"stale: generated/{rel}")
        if stale:
            print(
                f"{len(stale)} generated file(s) differ from the definitions; run symloss generate"
            )
            return 1
        print(f"generated/ is up to date ({len(files)} files, {time.perf_counter() - t0:.1f} s)")
        return 0
    changed = codegen.write(files)
    for rel in changed:
        print(f"wrote generated/{rel}")
    print(f"{len(changed)} file(s) changed of {len(files)} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_verify(args) -> int:
    from . import verify

    specs = _specs(args.names)
    dtypes = tuple(args.dtype) if args.dtype else ("float32", "float64")
    header = (
        f"{'loss':32s} {'qty':6s} {'dtype':8s} {'worst ULP':>10s} {'bound':>6s} "
        f"{'points':>7s} {'relaxed':>7s} {'raw ULP':>9s}  result"
    )
    failed = 0
    rows_all = []
    for k, spec in enumerate(specs, 1):
        t0 = time.perf_counter()
        _progress(f"[{k}/{len(specs)}] verifying {spec.name} ...")
        if hasattr(spec, "inputs"):
            rows = verify.verify_loss(spec, runtime.loss(spec.name), dtypes, seed=args.seed)
            fd = verify.check_derivatives(spec, seed=args.seed)
        else:  # a sequence loss: against brute force / its recurrence in high precision
            from .verify_sequences import verify_sequence

            rows = verify_sequence(spec, runtime.loss(spec.name), dtypes, seed=args.seed)
            fd = 0.0
        rows_all += rows
        failed += sum(not r.passed for r in rows) + (fd > verify.FD_TOLERANCE)
        _progress(
            f"      {spec.name}: {sum(r.passed for r in rows)}/{len(rows)} pass, symbolic "
            f"derivatives vs finite differences {fd:.1e}, {time.perf_counter() - t0:.1f} s"
        )
        if fd > verify.FD_TOLERANCE:
            print(f"{spec.name}: derivatives differ from finite differences by {fd:.3g}")
    print(header)
    for r in rows_all:
        print(r)
        if not r.passed:
            print(f"    worst at {r.worst_at}")
    print(
        "worst ULP: error against mpmath at 60+ digits, in units in the last place of the "
        "dtype;\nrelaxed: points measured against their conditioning or a ±4 ULP input "
        "perturbation (see symloss.verify);\nraw ULP: the worst error before that allowance."
    )
    print(f"{'FAILED' if failed else 'all passed'}: {len(rows_all) - failed} of {len(rows_all)}")
    return 1 if failed else 0


def cmd_docs(args) -> int:
    """Write generated/docs/ (losses.tex, losses.md, figures/), or a subset elsewhere."""
    from pathlib import Path

    from . import docs
    from .locations import generated_dir

    t0 = time.perf_counter()
    if args.only:
        _specs(args.only)  # unknown names: the runtime's error, with suggestions
    out = Path(args.out) if args.out else generated_dir() / "docs"
    if args.only and not args.out:
        out = Path("symloss-docs")  # a subset never replaces the committed reference
    files = docs.build(args.only or None)
    if args.check:
        stale = docs.stale(files, out)
        for rel in stale:
            print(f"stale: {out}/{rel}")
        if stale:
            print(f"{len(stale)} document file(s) differ from the definitions; run symloss docs")
            return 1
        print(f"{out}/ is up to date ({len(files)} files, {time.perf_counter() - t0:.1f} s)")
        return 0
    changed = docs.write(files, out)
    for rel in changed:
        print(f"wrote {out}/{rel}")
    print(f"{len(changed)} file(s) changed of {len(files)} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_all(args) -> int:
    """The main job: regenerate the kernels and the documents, then verify every loss."""
    code = cmd_generate(argparse.Namespace(check=False))
    if code:
        return code
    code = cmd_docs(argparse.Namespace(only=None, out=None, check=False))
    if code:
        return code
    return cmd_verify(argparse.Namespace(names=None, dtype=None, seed=args.seed))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="symloss", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the losses").set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="parameters, formula and derivatives of a loss")
    p.add_argument("name")
    p.add_argument("--latex", action="store_true", help="print only the LaTeX block")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("generate", help="rewrite generated/ from the definitions")
    p.add_argument("--check", action="store_true", help="exit 1 naming each stale file")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("verify", help="check kernels against the definitions in mpmath")
    p.add_argument("names", nargs="*", help="losses to verify (default: all)")
    p.add_argument("--dtype", action="append", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("docs", help="write the LaTeX and Markdown reference with figures")
    p.add_argument("--only", nargs="+", metavar="NAME", help="a subset (into ./symloss-docs)")
    p.add_argument("--out", help="output folder (default generated/docs)")
    p.add_argument("--check", action="store_true", help="report drift, write nothing")
    p.set_defaults(func=cmd_docs)
    p = sub.add_parser("all", help="the main job: generate, docs, then verify everything")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_all)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # user errors: unknown loss, bad arguments
        print(f"symloss: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
