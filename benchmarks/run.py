"""Time symloss's generated kernels side by side with what users would run instead.

    python benchmarks/run.py              # every case (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick      # small sizes and 3 repeats: checks that it runs
    python benchmarks/run.py --only mse softmax   # cases whose title contains a word

Each case times each implementation: one warm-up call (compilation, caches), then the median
of --repeats calls. GB/s counts the bytes the loss must move at least (its inputs read once,
its gradient written once); "× symloss" is the implementation's time over symloss's, both
measured in this run. The reference is a 3-stream kernel (c = a + b) over the same bytes:
the machine's memory bandwidth. Peers that are not installed are left out (the `bench`
extra installs them). Writes benchmarks/results/results.md and results.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

import symloss  # noqa: E402

RESULTS = HERE / "results"
DTYPES = ("float64", "float32")


@dataclass
class Case:
    title: str
    group: str
    nbytes: int  # the least a value (and gradient) computation must move
    impls: dict = field(default_factory=dict)  # name → zero-argument callable
    note: str = ""


@dataclass
class Timing:
    case: Case
    seconds: dict  # implementation → median seconds (symloss first)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: JIT compilation, caches, first-touch of outputs
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- the memory-bandwidth reference -----------------------------------------------------------


@numba.njit(parallel=True, cache=False)
def _add(a, b, out):
    for i in numba.prange(a.size):
        out[i] = a[i] + b[i]


def stream_reference(n: int, dtype) -> Case:
    a, b = np.random.default_rng(0).normal(size=(2, n)).astype(dtype)
    out = np.empty_like(a)
    return Case(
        f"3-stream reference c = a + b, N = {n:.0e}, {dtype}",
        "reference",
        3 * a.nbytes,
        {"numba": lambda: _add(a, b, out)},
    )


# -- elementwise losses -----------------------------------------------------------------------


def _elementwise_inputs(spec, n: int, dtype, rng) -> list[np.ndarray]:
    """Inputs inside each input's domain: logits/predictions N(0, 2), labels in {0, 1} or
    {-1, +1}, counts, variances."""
    import sympy as sp

    out = []
    for k, inp in enumerate(spec.inputs):
        dom = inp.domain
        if k == 0:
            a = rng.normal(0, 2, n)
        elif inp.labels == "signs":
            a = rng.choice([-1.0, 1.0], n)
        elif dom == sp.Interval(0, 1) or inp.labels == "binary":
            a = (rng.random(n) < 0.3).astype(float)
        elif dom.is_subset(sp.Interval(0, sp.oo)):
            a = rng.uniform(0.5, 5.0, n)
        else:
            a = rng.normal(0, 2, n)
        out.append(a.astype(dtype))
    return out


def elementwise_cases(names, n: int, peers_on: bool) -> list[Case]:
    from symloss.catalog import BUILTINS

    cases = []
    rng = np.random.default_rng(1)
    for name in names:
        spec = BUILTINS[name]
        kernel = symloss.loss(name)
        for dtype in DTYPES:
            arrays = _elementwise_inputs(spec, n, dtype, rng)
            read = sum(a.nbytes for a in arrays)
            norm = spec.family == "norm"
            for grad in (False, True):
                if grad:
                    own = (lambda k=kernel, a=arrays: k.value_and_grad(*a),)[0]
                else:
                    own = (lambda k=kernel, a=arrays: k(*a),)[0]
                impls = {"symloss": own}
                if grad and not norm:  # the gradient written into a reused buffer
                    buf = np.empty_like(arrays[0])
                    impls["symloss out="] = lambda k=kernel, a=arrays, b=buf: k.value_and_grad(
                        *a, out=b
                    )
                if peers_on:
                    impls["NumPy"] = (
                        peers.numpy_value_and_grad(name, *arrays)
                        if grad
                        else peers.numpy_value(name, *arrays)
                    )
                    if not norm:
                        impls["lambdify"] = peers.lambdify_value_and_grad(spec, *arrays, grad=grad)
                    impls["PyTorch"] = peers.torch_call(name, *arrays, grad=grad)
                    impls["jax.jit"] = peers.jax_call(name, *arrays, grad=grad)
                what = "value+grad" if grad else "value"
                cases.append(
                    Case(
                        f"{name} {what}, N = {n:.0e}, {dtype}",
                        "elementwise",
                        read + (arrays[0].nbytes if grad else 0),
                        {k: v for k, v in impls.items() if v is not None},
                    )
                )
    return cases


# -- the generated PyTorch code against torch.nn.functional --------------------------------

# loss → (symloss parameters, the F.* loss taking (input, target)); the same semantics
TORCH_PEERS = {
    "mse": ({}, "mse_loss", {}),
    "mae": ({}, "l1_loss", {}),
    "huber": ({"delta": 0.5}, "huber_loss", {"delta": 0.5}),
    "smooth_l1": ({"beta": 0.5}, "smooth_l1_loss", {"beta": 0.5}),
    "sigmoid_cross_entropy": ({}, "binary_cross_entropy_with_logits", {}),
    "poisson_nll": ({}, "poisson_nll_loss", {"log_input": True}),
}


def torch_cases(n: int) -> list[Case]:
    """Value + gradient (forward and backward, reduction mean) of the generated torch code,
    eager and under torch.compile, beside the F.* loss eager and compiled, on the CPU here (on
    a GPU where one is present: the title says which device)."""
    try:
        import torch
    except ImportError:
        return []
    from symloss.integrations.torch import function

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch._dynamo.config.recompile_limit = 256  # a compiled function per case and dtype
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    cases = []
    for name, (params, peer, peer_params) in TORCH_PEERS.items():
        for dtype in (torch.float32, torch.float64):
            x = torch.tensor(rng.normal(0, 2, n), dtype=dtype, device=device)
            y = torch.tensor(rng.random(n), dtype=dtype, device=device)
            ours = function(name, **params)

            theirs = functools.partial(getattr(F, peer), **peer_params)

            def step(loss, x=x, y=y):
                a = x.detach().requires_grad_(True)
                loss(a, y).backward()
                if device == "cuda":
                    torch.cuda.synchronize()

            runs = {
                "symloss": torch.compile(ours, fullgraph=True),
                "symloss eager": ours,
                "F.* eager": theirs,
                "F.* compiled": torch.compile(theirs, fullgraph=True),
            }
            impls = {k: functools.partial(step, f) for k, f in runs.items()}
            cases.append(
                Case(
                    f"{name} value+grad, N = {n:.0e}, {str(dtype)[6:]}, {device}",
                    "torch",
                    3 * x.nbytes,  # x and y read, the gradient written
                    impls,
                    note=f"F.{peer}; symloss: the generated torch code under torch.compile",
                )
            )
    return cases


# -- class-axis losses ------------------------------------------------------------------------


def class_cases(quick: bool, peers_on: bool) -> list[Case]:
    n, c = (4096, 1000) if quick else (65536, 1000)
    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, (n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    cases = []

    def case(title, nbytes, own, torch_f=None, jax_f=None, jax_args=(), numpy_f=None):
        impls = {"symloss": own}
        if peers_on:
            if numpy_f is not None:
                impls["NumPy"] = numpy_f
            if torch_f is not None and peers.installed("torch"):
                import torch

                impls["PyTorch"] = peers._torch_runner(torch_f, torch.from_numpy(z), True)
            if jax_f is not None and peers.installed("jax") and peers.installed("optax"):
                impls["jax.jit"] = peers.jax_runner(jax_f, (z, *jax_args))
        cases.append(Case(title, "classes", nbytes, impls))

    def np_softmax_ce():
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        lse = np.log(s) + m
        value = np.mean(lse[:, 0] - z[np.arange(n), y])
        g = e / s
        g[np.arange(n), y] -= 1
        return value, g / n

    torch_y = jax_y = None
    if peers_on and peers.installed("torch"):
        import torch
        import torch.nn.functional as F

        torch_y = torch.from_numpy(y)
    ce_torch = (lambda x: F.cross_entropy(x, torch_y)) if torch_y is not None else None
    ce_jax = None
    if peers_on and peers.installed("optax"):
        import jax
        import jax.numpy as jnp
        import optax

        jax_y = y.astype(np.int32)

        def ce_jax(x, labels):
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, labels))

        def focal_jax(x, labels):
            logp = jax.nn.log_softmax(x)
            lp = jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0]
            return jnp.mean(-0.25 * (1 - jnp.exp(lp)) ** 2 * lp)

    nbytes = z.nbytes * 2 + y.nbytes  # logits read, gradient written
    title = f"N = {n}, C = {c}, float32, value+grad"
    case(
        f"softmax_cross_entropy {title}",
        nbytes,
        lambda: symloss.softmax_cross_entropy.value_and_grad(z, y),
        ce_torch,
        ce_jax,
        (jax_y,),
        np_softmax_ce,
    )

    def focal_torch(x):
        logp = F.log_softmax(x, dim=1).gather(1, torch_y[:, None])[:, 0]
        return (-0.25 * (1 - logp.exp()) ** 2 * logp).mean()

    case(
        f"softmax_focal {title}",
        nbytes,
        lambda: symloss.softmax_focal.value_and_grad(z, y),
        focal_torch if torch_y is not None else None,
        focal_jax if ce_jax is not None else None,
        (jax_y,),
    )
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    p = np.roll(q, 1, axis=0)

    def kl_torch(x):  # gradient w.r.t. the probabilities q, as symloss's
        return F.kl_div(x.log(), torch.from_numpy(p), reduction="batchmean")

    def kl_jax(x, target):
        return jnp.sum(optax.kl_divergence(jnp.log(x), target)) / x.shape[0]

    kl_impls = {"symloss": lambda: symloss.kl_divergence.value_and_grad(q, p)}
    if peers_on and peers.installed("torch"):
        kl_impls["PyTorch"] = peers._torch_runner(kl_torch, torch.from_numpy(q), True)
    if peers_on and ce_jax is not None:
        kl_impls["jax.jit"] = peers.jax_runner(kl_jax, (q, p))
    cases.append(Case(f"kl_divergence {title}", "classes", q.nbytes * 3, kl_impls))
    return cases


def segmentation_cases(quick: bool, peers_on: bool) -> list[Case]:
    shape = (8, 128, 128) if quick else (64, 512, 512)
    rng = np.random.default_rng(3)
    p = rng.random(shape, dtype=np.float32)
    g = (rng.random(shape) < 0.2).astype(np.float32)
    impls = {"symloss": lambda: symloss.dice.value_and_grad(p, g)}

    def dice_value(p, g, xp):
        axes = (1, 2)
        inter = (p * g).sum(axis=axes)
        return (1 - (2 * inter + 1) / (p.sum(axis=axes) + g.sum(axis=axes) + 1)).mean()

    if peers_on and peers.installed("torch"):
        import torch

        tg = torch.from_numpy(g)
        impls["PyTorch"] = peers._torch_runner(
            lambda x: dice_value(x, tg, torch), torch.from_numpy(p), True
        )
    if peers_on and peers.installed("jax"):
        import jax.numpy as jnp

        impls["jax.jit"] = peers.jax_runner(lambda x, t: dice_value(x, t, jnp), (p, g))
    return [Case(f"dice {shape}, float32, value+grad", "classes", p.nbytes * 3, impls)]


def large_margin_cases(quick: bool, peers_on: bool) -> list[Case]:
    n, d, c = (512, 128, 100) if quick else (4096, 512, 1000)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = (rng.normal(size=(d, c)) / np.sqrt(d)).astype(np.float32)
    y = rng.integers(0, c, n)
    impls = {"symloss": lambda: symloss.large_margin_softmax.value_and_grad(x, w, y)}
    note = "PyTorch: cross_entropy(x @ W) with both gradients, the m = 1 case (no margin)"
    if peers_on and peers.installed("torch"):
        import torch
        import torch.nn.functional as F

        tx, tw, ty = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(y)

        def linear_ce():
            a, b = tx.clone().requires_grad_(True), tw.clone().requires_grad_(True)
            v = F.cross_entropy(a @ b, ty)
            v.backward()
            return v, a.grad, b.grad

        impls["PyTorch"] = linear_ce
    nbytes = 2 * (x.nbytes + w.nbytes)
    title = f"large_margin_softmax N = {n}, D = {d}, C = {c}, float32, value+grad"
    return [Case(title, "classes", nbytes, impls, note)]


# -- sequences ----------------------------------------------------------------------------------


def ctc_cases(quick: bool, peers_on: bool) -> list[Case]:
    t, n, c, s = (50, 8, 20, 10) if quick else (200, 32, 50, 40)
    rng = np.random.default_rng(5)
    cases = []
    for dtype in ("float32", "float64"):
        z = rng.normal(size=(t, n, c)).astype(dtype)
        targets = rng.integers(1, c, (n, s))
        il = np.full(n, t)
        tl = rng.integers(s // 2, s + 1, n)
        impls = {
            "symloss": lambda z=z, y=targets, il=il, tl=tl: symloss.ctc.value_and_grad(z, y, il, tl)
        }
        if peers_on and peers.installed("torch"):
            import torch
            import torch.nn.functional as F

            args = [torch.from_numpy(a) for a in (targets, il, tl)]
            impls["PyTorch"] = peers._torch_runner(
                lambda x, args=args: F.ctc_loss(F.log_softmax(x, dim=2), *args),
                torch.from_numpy(z),
                True,
            )
        if peers_on and peers.installed("optax"):
            import jax.numpy as jnp
            import optax

            logit_pad = np.zeros((n, t), dtype)
            label_pad = (np.arange(s)[None, :] >= tl[:, None]).astype(dtype)

            def optax_ctc(x, lp, labels, lbp):
                per = optax.ctc_loss(jnp.transpose(x, (1, 0, 2)), lp, labels, lbp)
                return jnp.mean(per / jnp.maximum(jnp.sum(1 - lbp, axis=1), 1))

            impls["Optax jax.jit"] = peers.jax_runner(
                optax_ctc, (z, logit_pad, targets.astype(np.int32), label_pad)
            )
        title = f"ctc T = {t}, N = {n}, C = {c}, S = {s}, {dtype}, value+grad"
        cases.append(Case(title, "sequences", z.nbytes * 2, impls))
    return cases


def edit_cases(quick: bool, peers_on: bool) -> list[Case]:
    pairs = 2000 if quick else 100_000
    rng = np.random.default_rng(6)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def word():
        return "".join(rng.choice(alphabet[:8], rng.integers(10, 65)))

    a = [word() for _ in range(pairs)]
    b = [word() for _ in range(pairs)]
    impls = {"symloss": lambda: symloss.edit_distance(a, b)}
    if peers_on and peers.installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        impls["RapidFuzz cpdist, 2 workers"] = lambda: process.cpdist(
            a, b, scorer=Levenshtein.distance, workers=2
        )
        impls["RapidFuzz, 1 worker"] = lambda: process.cpdist(
            a, b, scorer=Levenshtein.distance, workers=1
        )
    nbytes = sum(map(len, a)) + sum(map(len, b))
    cases = [Case(f"edit_distance {pairs} pairs of length 10-64", "sequences", nbytes, impls)]
    n, t, c, s = (16, 32, 20, 16) if quick else (256, 64, 30, 40)
    z = rng.normal(size=(n, t, c))
    target = rng.integers(0, c, (n, s))
    soft = {
        "symloss": lambda: symloss.soft_edit_distance.value_and_grad(
            z, target, input_lengths=np.full(n, t), target_lengths=np.full(n, s)
        )
    }
    title = f"soft_edit_distance N = {n}, T = {t}, C = {c}, S = {s}, float64, value+grad"
    cases.append(Case(title, "sequences", z.nbytes * 2, soft, "no peer has this loss"))
    return cases


# -- cold start ---------------------------------------------------------------------------------

_COLD = """
import sys, time
t0 = time.perf_counter()
import numpy as np
import symloss
t1 = time.perf_counter()
p = np.linspace(-3, 3, 1000); t = np.zeros(1000)
symloss.huber.value_and_grad(p, t)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, "sympy" in sys.modules)
"""


def cold_start() -> dict:
    """A new process: import symloss, then the first call of a kernel already in Numba's
    cache (a first process fills it). SymPy must not be imported on that path."""
    runs = []
    for _ in range(4):
        out = subprocess.run(
            [sys.executable, "-c", _COLD], capture_output=True, text=True, check=True
        )
        imp, call, sympy_loaded = out.stdout.split()
        runs.append((float(imp), float(call), sympy_loaded == "True"))
    warm = runs[1:]  # the first may have filled the cache
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "symloss", "generate", "--check"], capture_output=True, check=False
    )
    generate = time.perf_counter() - t0
    return {
        "import": statistics.median(r[0] for r in warm),
        "first call": statistics.median(r[1] for r in warm),
        "sympy imported": any(r[2] for r in warm),
        "generate": generate,
    }


# -- running and reporting ----------------------------------------------------------------------


def run_cases(cases: list[Case], repeats: int) -> list[Timing]:
    timings = []
    for case in cases:
        seconds = {}
        for name, fn in case.impls.items():
            try:
                seconds[name] = median_time(fn, repeats)
            except Exception as exc:  # a peer that fails on this case: say so, go on
                print(f"  {name} failed on {case.title}: {exc!r}", file=sys.stderr)
        timings.append(Timing(case, seconds))
        print(_line(timings[-1]), flush=True)
    return timings


def _line(t: Timing) -> str:
    own = t.seconds.get("symloss") or t.seconds.get("numba")
    parts = [f"{k} {v * 1e3:.2f} ms ({v / own:.2f}×)" for k, v in t.seconds.items()]
    return f"{t.case.title}: " + ", ".join(parts)


def markdown(timings: list[Timing], reference: dict, cold: dict | None, args) -> str:
    lines = [
        "# symloss benchmark results",
        "",
        f"`python benchmarks/run.py{' --quick' if args.quick else ''}` on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {numba.__version__}{_versions()}; median of {args.repeats} calls after a "
        "warm-up, all in one run.",
        "",
        "GB/s: bytes the computation must move (inputs read once, gradient written once) over "
        "the median time of symloss's faster call (`out=` reuses the gradient buffer; a fresh "
        "80 MB array costs its page faults on every call). × symloss: that implementation's "
        "time over symloss's default call (above 1: symloss is faster). vs bandwidth: "
        "symloss's GB/s over the 3-stream reference's.",
        "",
    ]
    for group in ("reference", "elementwise", "torch", "classes", "sequences"):
        rows = [t for t in timings if t.case.group == group]
        if not rows:
            continue
        names = []
        for t in rows:
            names += [k for k in t.seconds if k not in names]
        lines += [f"## {group}", ""]
        header = ["case", *(f"{k} ms" for k in names), "symloss GB/s"]
        if group != "reference":
            header += [f"{k} × symloss" for k in names if k != "symloss"] + ["vs bandwidth"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for t in rows:
            own = t.seconds.get("symloss", t.seconds.get("numba"))
            best = min(
                (v for k, v in t.seconds.items() if k.startswith(("symloss", "numba"))),
                default=None,
            )
            cells = [t.case.title]
            cells += [f"{t.seconds[k] * 1e3:.2f}" if k in t.seconds else "" for k in names]
            cells.append(f"{t.case.nbytes / best / 1e9:.1f}" if best else "")
            if group != "reference":
                cells += [
                    f"{t.seconds[k] / own:.2f}" if k in t.seconds and own else ""
                    for k in names
                    if k != "symloss"
                ]
                bw = reference.get(_dtype_of(t.case.title))
                cells.append(f"{(t.case.nbytes / best / 1e9) / bw:.0%}" if bw and best else "")
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"- {t.case.title}: {t.case.note}" for t in rows if t.case.note]
        lines += ["", *notes, ""] if notes else [""]
    if cold:
        lines += [
            "## cold start",
            "",
            f"- new process, `import symloss`: {cold['import'] * 1e3:.0f} ms (median of 3)",
            f"- first `huber.value_and_grad` from Numba's cache: {cold['first call'] * 1e3:.0f} ms",
            f"- SymPy imported on that path: {cold['sympy imported']}",
            f"- `symloss generate --check` (renders every kernel): {cold['generate']:.1f} s",
            "",
        ]
    return "\n".join(lines)


def _dtype_of(title: str) -> str:
    return "float32" if "float32" in title else "float64"


def _versions() -> str:
    out = []
    for mod in ("torch", "jax", "optax", "rapidfuzz"):
        if peers.installed(mod):
            out.append(f"{mod} {__import__(mod).__version__}")
    return (", " + ", ".join(out)) if out else ""


def plot(timings: list[Timing], path: Path) -> None:
    """Each case's speed-up of symloss over each peer, on a log scale."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    rows = [t for t in timings if t.case.group != "reference" and len(t.seconds) > 1]
    if not rows:
        return
    peers_seen = []
    for t in rows:
        peers_seen += [k for k in t.seconds if k != "symloss" and k not in peers_seen]
    fig, ax = plt.subplots(figsize=(10, 0.28 * len(rows) * len(peers_seen) / 2 + 2))
    height = 0.8 / len(peers_seen)
    for k, peer in enumerate(peers_seen):
        ys = [i + k * height for i, t in enumerate(rows) if peer in t.seconds]
        xs = [t.seconds[peer] / t.seconds["symloss"] for t in rows if peer in t.seconds]
        ax.barh(ys, xs, height=height, label=peer)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))])
    ax.set_yticklabels([t.case.title for t in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("peer time / symloss time (right of 1: symloss faster)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    ap.add_argument("--only", nargs="*", default=None, help="cases whose title has a word")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per case (7)")
    ap.add_argument("--no-peers", action="store_true", help="symloss and the reference only")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for results.md/.png")
    args = ap.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    n = 10**5 if args.quick else 10**7
    peers_on = not args.no_peers

    from symloss.catalog import BUILTINS

    elementwise = [k for k in symloss.names() if k in BUILTINS and BUILTINS[k].family != "classes"]
    cases = [stream_reference(n, d) for d in DTYPES]
    cases += elementwise_cases(elementwise, n, peers_on)
    cases += class_cases(args.quick, peers_on)
    cases += segmentation_cases(args.quick, peers_on)
    cases += large_margin_cases(args.quick, peers_on)
    cases += ctc_cases(args.quick, peers_on)
    cases += edit_cases(args.quick, peers_on)
    cases += torch_cases(n) if peers_on else []
    if args.only:
        keep = [c for c in cases if any(w in c.title for w in args.only)]
        cases = [c for c in cases if c.group == "reference"] + [
            c for c in keep if c.group != "reference"
        ]
    timings = run_cases(cases, args.repeats)
    reference = {
        _dtype_of(t.case.title): t.case.nbytes / t.seconds["numba"] / 1e9
        for t in timings
        if t.case.group == "reference"
    }
    cold = None if args.only else cold_start()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(markdown(timings, reference, cold, args))
    (args.out / "results.json").write_text(
        json.dumps(
            [{"case": t.case.title, "bytes": t.case.nbytes, "seconds": t.seconds} for t in timings],
            indent=1,
        )
    )
    plot(timings, args.out / "results.png")
    print(f"wrote {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
