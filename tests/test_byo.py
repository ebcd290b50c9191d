"""Bring your own loss: the string parser, `define`, `compile`, `symloss generate --module`,
and `verify_gradient` (API and CLI).

Expected values come from sources independent of symloss: NumPy formulas written here, finite
differences, and gradients derived by hand.
"""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from sympy.printing.str import StrPrinter

import symloss
from symloss import cli, compiled
from symloss.definition import primitives
from symloss.definition.parse import FormulaError, parse_formula
from symloss.definition.spec import C, c
from symloss.verify.gradcheck import _truth

CAUCHY = "c**2/2*log(1 + ((pred - target)/c)**2)"
TRIO = "alpha/2*(pred - target)**2 + beta*softplus(gamma*(pred - target))"


def cauchy_spec(default=1.0, name="cauchy2"):
    return symloss.define(name, CAUCHY, params={"c": default})


def trio_spec():
    positive = sp.Interval.open(0, sp.oo)
    return symloss.define(
        "trio",
        TRIO,
        params={
            "alpha": symloss.Param(0.5, positive),
            "beta": symloss.Param(2.0, sp.Interval(0, sp.oo)),
            "gamma": 1.5,
        },
    )


# -- NumPy references, written from the math -----------------------------------------------------


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cauchy_np(p, t, c=1.0):
    r = p - t
    return c**2 / 2 * np.log1p((r / c) ** 2)


def cauchy_grad_np(p, t, c=1.0):
    r = p - t
    return r / (1 + (r / c) ** 2)


def cauchy_hess_np(p, t, c=1.0):
    u = ((p - t) / c) ** 2
    return (1 - u) / (1 + u) ** 2


def trio_np(p, t, alpha=0.5, beta=2.0, gamma=1.5):
    r = p - t
    return alpha / 2 * r**2 + beta * np.logaddexp(0.0, gamma * r)


def trio_grad_np(p, t, alpha=0.5, beta=2.0, gamma=1.5):
    r = p - t
    return alpha * r + beta * gamma * _sigmoid(gamma * r)


def trio_hess_np(p, t, alpha=0.5, beta=2.0, gamma=1.5):
    s = _sigmoid(gamma * (p - t))
    return alpha + beta * gamma**2 * s * (1 - s)


LOSSES = {  # name → (spec factory, value, gradient, Hessian, non-default parameters)
    "cauchy2": (cauchy_spec, cauchy_np, cauchy_grad_np, cauchy_hess_np, {"c": 2.0}),
    "trio": (
        trio_spec,
        trio_np,
        trio_grad_np,
        trio_hess_np,
        {"alpha": 0.75, "beta": 0.3, "gamma": -2.5},
    ),
}


def fd1(f, p, t, h=1e-6, **params):
    return (f(p + h, t, **params) - f(p - h, t, **params)) / (2 * h)


def fd2(f, p, t, h=1e-4, **params):
    return (f(p + h, t, **params) - 2 * f(p, t, **params) + f(p - h, t, **params)) / h**2


def huber_grad_np(p, t, delta):
    r = p - t
    return np.where(np.abs(r) < delta, r, delta * np.sign(r))


# =================================================================================================
# 1. The parser evaluates nothing and says what it rejected
# =================================================================================================

REJECTED = [  # formula, words the message must contain
    ("pred.__class__", "attribute access"),
    ("__import__('os').system('true')", "only the listed functions can be called"),
    ("lambda: 1", "lambda"),
    ("[pred]", "a list"),
    ("pred if True else 0", "bool literals are not numbers"),
    ("pred*q", "unknown name 'q'"),
    ("exp(x=pred)", "no keyword arguments"),
    ("import os", "not an expression"),
    ("9**9**9", "numeric power beyond"),
    ("1j*pred", "complex numbers are not allowed"),
    ("pred[0]", "only vector inputs (classes=True) can be indexed"),
    ("f'{pred}'", "f-string"),
    ("open('x', 'w')", "unknown function 'open'"),
    ("exp(*[pred])", "starred"),
    ("(pred := 1)", "assignment expression"),
    ("[p for p in (1, 2)]", "comprehension"),
    ("pred // 2", "FloorDiv"),
    ("pred in target", "comparison In"),
    ("exp", "'exp' is a function"),
    ("'abc'", "str literals"),
    ("exp(pred, target)", "takes 1 argument"),
    ("pred + " * 2500 + "pred", "the limit is 10000"),
]


@pytest.mark.parametrize("formula, words", REJECTED, ids=[r[0][:30] for r in REJECTED])
def test_parser_rejects_with_a_message_naming_the_problem(formula, words):
    with pytest.raises(ValueError) as err:
        symloss.define("x1", formula)
    assert isinstance(err.value, FormulaError)
    assert words in str(err.value)


def test_formula_error_is_a_value_error_and_says_where():
    assert issubclass(FormulaError, ValueError)
    with pytest.raises(FormulaError, match=r"column 8 \('q'\)"):
        symloss.define("x1", "pred + q")


@pytest.mark.parametrize(
    "template",
    [
        "open({path!r}, 'w').write('x')",
        "__import__('pathlib').Path({path!r}).touch()",
        "(lambda: open({path!r}, 'w'))()",
        "[open({path!r}, 'w') for _ in (1,)]",
        "pred if open({path!r}, 'w') else 0",
        "exp(pred) + (open({path!r}, 'w').close() or 0)",
    ],
)
def test_rejected_formulas_have_no_side_effect(tmp_path, template):
    control, target = tmp_path / "control", tmp_path / "target"
    eval(template.format(path=str(control)), {"pred": 1.0, "exp": math.exp})  # noqa: S307 - the string is live
    assert control.exists()
    with pytest.raises(FormulaError):
        symloss.define("x1", template.format(path=str(target)))
    with pytest.raises(FormulaError):
        symloss.verify_gradient("mse", template.format(path=str(target)))
    assert not target.exists()


def test_nested_numeric_powers_cannot_bypass_the_limit():
    with pytest.raises(FormulaError):
        symloss.define("x1", "(9**1000)**1000*pred")


@pytest.mark.parametrize(
    "formula", ["not pred", "pred > target", "where(pred, 1, 0)", "pred if pred else target"]
)
def test_conditions_and_numbers_are_not_interchangeable(formula):
    with pytest.raises(ValueError):
        symloss.define("x1", formula)


def test_condition_on_a_class_sum_of_a_conditional_body_is_refused():
    # SymPy folds a conditional body out of a compared class sum (the bound index c would
    # become free and the formula would mean something else): refused with an explanation.
    formulas = [
        "1 if s[target] >= class_sum(0 if c == target else s[c]) else 0",
        "where(s[target] >= class_max(-inf if c == target else s[c]), 1, 0)",
    ]
    for formula in formulas:
        with pytest.raises(FormulaError, match="class index c"):
            parse_formula(formula, {"s", "target"}, vectors={"s"}, indices={"target"})
    # the same condition on a sum without a conditional body is fine
    expr = parse_formula(
        "1 if s[target] >= class_sum(s[c]) - s[target] else 0",
        {"s", "target"},
        vectors={"s"},
        indices={"target"},
    )
    s = sp.IndexedBase("s", real=True)
    target = sp.Symbol("target", integer=True, nonnegative=True)
    for values, label in [([5.0, 1.0, 2.0], 0), ([2.0, 1.0, 2.0], 0), ([0.0, 3.0, 1.0], 1)]:
        others = sum(v for k, v in enumerate(values) if k != label)
        got = expr.subs({C: 3, target: label}).doit()
        got = got.xreplace({s[k]: sp.Float(v) for k, v in enumerate(values)})
        assert got == (1 if values[label] >= others else 0), (values, label, got)


# =================================================================================================
# 2. define rejects what is not a loss
# =================================================================================================

PRED = sp.Symbol("pred", real=True)


@pytest.mark.parametrize(
    "name, formula, params, words",
    [
        ("huber", "(pred - target)**2", None, "name of a built-in loss"),
        ("x2", PRED * sp.Symbol("q"), None, "['q']"),
        ("x3", sp.I * PRED, None, "complex-valued"),
        ("x3b", "sqrt(-1)*pred", None, "complex-valued"),
        ("x4", sp.floor(PRED), None, "floor"),
        ("x5", sp.Function("f")(PRED), None, "undefined function f"),
        ("x6", sp.Mod(PRED, 2), None, "Mod"),
        (
            "x7",
            "c*pred",
            {"c": symloss.Param(-1.0, sp.Interval.open(0, sp.oo))},
            "outside its range",
        ),
        ("x8", "c*pred", {"c": symloss.Param(0.0, sp.Interval.open(0, sp.oo))}, "outside"),
        ("x9", "c*pred", {"c": float("nan")}, "finite number"),
        ("weight", "pred", None, "reserved"),
        ("x10", "pred*reduction", {"reduction": 1.0}, "reserved"),
    ],
)
def test_define_rejects(name, formula, params, words):
    with pytest.raises(ValueError) as err:
        symloss.define(name, formula, params=params)
    assert words in str(err.value)


# =================================================================================================
# 3. Parsed formulas mean what they say
# =================================================================================================


def _at(expr, spec, **values):
    return float(expr.subs({spec.symbol(k): v for k, v in values.items()}).evalf(30))


def test_cauchy_derivatives_are_the_hand_derived_ones():
    spec = cauchy_spec()
    d1, d2 = spec.derivative("pred"), spec.derivative("pred", order=2)
    rng = np.random.default_rng(1)
    for p, t, cv in zip(rng.normal(0, 3, 12), rng.normal(0, 3, 12), rng.uniform(0.1, 5, 12)):
        assert _at(d1, spec, pred=p, target=t, c=cv) == pytest.approx(
            cauchy_grad_np(p, t, cv), rel=1e-12, abs=1e-15
        )
        assert _at(d2, spec, pred=p, target=t, c=cv) == pytest.approx(
            cauchy_hess_np(p, t, cv), rel=1e-12, abs=1e-15
        )
    # and symbolically, with the primitives written out
    pred, target, cs = (spec.symbol(k) for k in ("pred", "target", "c"))
    hand = (pred - target) / (1 + ((pred - target) / cs) ** 2)
    assert sp.simplify(d1.rewrite("math") - hand) == 0


def test_decimal_literals_are_exact():
    spec = symloss.define("dec", "0.1*pred + 2.5e-1*target + 1_000.5*pred**2")
    pred = spec.symbol("pred")
    d = spec.derivative("pred")
    assert sp.expand(d - (sp.Rational(1, 10) + 2 * sp.Rational(2001, 2) * pred)) == 0
    assert symloss.define("dec2", "0.1*pred").derivative("pred") == sp.Rational(1, 10)
    assert symloss.define("dec3", "0.3*pred").derivative("pred") != sp.Float(0.3)


def test_conditionals_are_piecewise_and_mean_what_they_say():
    a = symloss.define("pw1", "(pred - target)**2 if pred > target else 0.5*(pred - target)**2")
    b = symloss.define("pw2", "where(pred > target, (pred - target)**2, 0.5*(pred - target)**2)")
    for spec in (a, b):
        assert isinstance(spec.element, sp.Piecewise)
        for p, t in [(2.0, 0.5), (-1.0, 0.5), (0.25, -3.0), (-3.0, -0.25)]:
            r = p - t
            assert _at(spec.element, spec, pred=p, target=t) == pytest.approx(
                r**2 if p > t else 0.5 * r**2, rel=1e-14
            )
            assert _at(spec.derivative("pred"), spec, pred=p, target=t) == pytest.approx(
                2 * r if p > t else r, rel=1e-14
            )


def test_latex_of_a_parsed_formula():
    tex = cauchy_spec().latex()
    assert r"\log" in tex and r"\begin{aligned}" in tex and r"\partial" in tex


def test_string_and_sympy_definitions_agree():
    pred, target, cs = sp.symbols("pred target c", real=True)
    from_sympy = symloss.define(
        "cauchy2", cs**2 / 2 * sp.log(1 + ((pred - target) / cs) ** 2), params={"c": 1.0}
    )
    assert compiled.definition_hash(from_sympy) == compiled.definition_hash(cauchy_spec())


# =================================================================================================
# 4. compile: kernels that match NumPy, cached across calls and processes
# =================================================================================================


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """name → (spec, kernel), compiled into a cache folder of this module's own."""
    folder = tmp_path_factory.mktemp("symloss-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMLOSS_CACHE_DIR", str(folder))
        mp.setattr(compiled, "_COMPILED", {})
        out = {}
        for name, (factory, *_rest) in LOSSES.items():
            spec = factory()
            out[name] = (spec, symloss.compile(spec))
        yield out


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMLOSS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "_COMPILED", {})
    return tmp_path


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("defaults", [True, False], ids=["defaults", "params"])
def test_compiled_value_grad_hess_match_numpy(kernels, name, defaults):
    spec, kernel = kernels[name]
    _, f, g, h, other = LOSSES[name]
    params = {} if defaults else other
    rng = np.random.default_rng(2)
    p, t = rng.normal(0, 2, (10, 20)), rng.normal(0, 2, (10, 20))
    w = rng.uniform(0.1, 2.0, (10, 20))
    ell, d1, d2 = f(p, t, **params), g(p, t, **params), h(p, t, **params)
    # the references agree with finite differences of the value
    np.testing.assert_allclose(d1, fd1(f, p, t, **params), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d2, fd2(f, p, t, **params), rtol=1e-4, atol=1e-5)

    gk, hk = kernel.grad_hess(p, t, **params)
    assert gk.shape == hk.shape == p.shape
    np.testing.assert_allclose(gk, d1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hk, d2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hk, fd2(f, p, t, **params), rtol=1e-4, atol=1e-5)

    n, sw = p.size, w.sum()
    expected = {
        ("mean", False): (ell.mean(), d1 / n),
        ("mean", True): ((w * ell).sum() / sw, w * d1 / sw),
        ("sum", False): (ell.sum(), d1),
        ("sum", True): ((w * ell).sum(), w * d1),
        ("none", False): (ell, d1),
        ("none", True): (w * ell, w * d1),
    }
    for (reduction, weighted), (value, grad) in expected.items():
        kw = dict(params, reduction=reduction, weight=w if weighted else None)
        v, gr = kernel.value_and_grad(p, t, **kw)
        np.testing.assert_allclose(v, value, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gr, grad, rtol=1e-12, atol=1e-14)
        assert gr.shape == p.shape
        np.testing.assert_allclose(kernel(p, t, **kw), value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kernel(p, t, **params), ell.mean(), rtol=1e-12)  # default mean


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compiled_float32_stays_float32(kernels, name):
    _, kernel = kernels[name]
    _, f, g, h, other = LOSSES[name]
    rng = np.random.default_rng(3)
    p, t = rng.normal(0, 2, 300), rng.normal(0, 2, 300)
    p32, t32 = p.astype(np.float32), t.astype(np.float32)
    ref = (p32.astype(np.float64), t32.astype(np.float64))
    v = kernel(p32, t32, reduction="sum", **other)
    assert isinstance(v, np.float32)
    assert v == pytest.approx(f(*ref, **other).sum(), rel=1e-5)
    v, gr = kernel.value_and_grad(p32, t32, **other)
    assert isinstance(v, np.float32) and gr.dtype == np.float32
    np.testing.assert_allclose(gr, g(*ref, **other) / p.size, rtol=1e-5, atol=1e-7)
    gk, hk = kernel.grad_hess(p32, t32, **other)
    assert gk.dtype == hk.dtype == np.float32
    np.testing.assert_allclose(hk, h(*ref, **other), rtol=1e-4, atol=1e-5)
    assert kernel(p32, t32, reduction="none").dtype == np.float32


def test_compiled_parameter_ranges_are_checked_at_every_call(kernels):
    _, kernel = kernels["trio"]
    p = np.zeros(3)
    with pytest.raises(ValueError, match="alpha"):
        kernel(p, p, alpha=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        kernel(p, p, alpha=0.0)
    assert np.isfinite(kernel(p, p, gamma=-7.0))  # gamma: any real
    with pytest.raises(TypeError, match="delta"):
        kernel(p, p, delta=1.0)


def test_compile_caches_one_module_per_definition(fresh_cache, monkeypatch):
    spec = cauchy_spec()
    kernel = symloss.compile(spec)
    (path,) = fresh_cache.glob("*.py")
    assert re.fullmatch(r"cauchy2_[0-9a-f]{16}\.py", path.name)
    assert path.name == f"cauchy2_{compiled.definition_hash(spec)}.py"
    p, t = np.linspace(-3, 3, 7), np.full(7, 0.5)
    before = kernel.value_and_grad(p, t, reduction="none", c=2.0)
    mtime = path.stat().st_mtime_ns

    # Again, as a new process would: nothing in memory, a new but equal definition. The
    # module on disk is reused, not rendered again.
    monkeypatch.setattr(compiled, "_COMPILED", {})

    def no_render(*a, **k):
        raise AssertionError("rendered again")

    monkeypatch.setattr("symloss.backends.render_definition", no_render)
    again = symloss.compile(cauchy_spec())
    assert path.stat().st_mtime_ns == mtime
    assert [q.name for q in fresh_cache.glob("*.py")] == [path.name]
    after = again.value_and_grad(p, t, reduction="none", c=2.0)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_allclose(after[1], cauchy_grad_np(p, t, 2.0), rtol=1e-12)

    # Other definitions get modules of their own (other default, other formula).
    with pytest.raises(AssertionError, match="rendered again"):
        symloss.compile(cauchy_spec(default=2.0))
    with pytest.raises(AssertionError, match="rendered again"):
        symloss.compile(
            symloss.define("cauchy2", "c**2*log(1 + (pred - target)**2)", params={"c": 1.0})
        )
    monkeypatch.undo()
    monkeypatch.setenv("SYMLOSS_CACHE_DIR", str(fresh_cache))
    monkeypatch.setattr(compiled, "_COMPILED", {})
    other = symloss.compile(cauchy_spec(default=2.0))
    names = sorted(q.name for q in fresh_cache.glob("*.py"))
    assert len(names) == 2 and all(n.startswith("cauchy2_") for n in names)
    assert other(p, t) == pytest.approx(cauchy_np(p, t, 2.0).mean(), rel=1e-12)  # default 2


SCRIPT = """
import json, time
t0 = time.perf_counter()
import numpy as np
import symloss
spec = symloss.define("cauchy2", {formula!r}, params={{"c": 1.0}})
t1 = time.perf_counter()
kernel = symloss.compile(spec)
t2 = time.perf_counter()
rng = np.random.default_rng(0)
p, t = rng.normal(size=1000), rng.normal(size=1000)
v, g = kernel.value_and_grad(p, t, c=2.0)
t3 = time.perf_counter()
v, g = kernel.value_and_grad(p, t, c=2.0)
t4 = time.perf_counter()
print(json.dumps({{"value": float(v), "grad": g.tolist(), "seconds": {{"import+define": t1 - t0,
    "compile": t2 - t1, "first call": t3 - t2, "second call": t4 - t3}}}}))
"""


def test_compiled_kernels_are_reused_by_another_process(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(formula=CAUCHY), encoding="utf-8")
    env = dict(os.environ, SYMLOSS_CACHE_DIR=str(cache))

    def run():
        out = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    def files():
        py = {q.name: q.stat().st_mtime_ns for q in cache.glob("*.py")}
        nbc = {q.name for q in (cache / "__pycache__").glob("*.nbc")}
        return py, nbc

    first = run()
    py1, nbc1 = files()
    (name,) = py1
    assert re.fullmatch(r"cauchy2_[0-9a-f]{16}\.py", name)
    assert nbc1, "Numba cached nothing beside the module"
    second = run()
    py2, nbc2 = files()
    assert py2 == py1  # the module was neither rendered again nor rewritten
    assert nbc2 == nbc1  # and Numba compiled nothing new
    assert second["value"] == first["value"] and second["grad"] == first["grad"]
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=1000), rng.normal(size=1000)
    assert first["value"] == pytest.approx(cauchy_np(p, t, 2.0).mean(), rel=1e-12)
    np.testing.assert_allclose(first["grad"], cauchy_grad_np(p, t, 2.0) / 1000, rtol=1e-12)
    print("\ncross-process timings (s):")
    for label, run_ in (("first", first), ("second", second)):
        print(f"  {label:6s}", {k: round(v, 3) for k, v in run_["seconds"].items()})


# =================================================================================================
# 5. symloss generate --module FILE --out DIR
# =================================================================================================

MODULE = f"""
import sympy as sp
import symloss

cauchy2 = symloss.define("cauchy2", {CAUCHY!r}, params={{"c": 1.0}})
trio = symloss.define(
    "trio",
    {TRIO!r},
    params={{
        "alpha": symloss.Param(0.5, sp.Interval.open(0, sp.oo)),
        "beta": symloss.Param(2.0, sp.Interval(0, sp.oo)),
        "gamma": 1.5,
    }},
)
"""


@pytest.fixture
def user_module(tmp_path):
    path = tmp_path / "my_losses.py"
    path.write_text(MODULE, encoding="utf-8")
    return path


def test_generate_module_check_and_load(user_module, tmp_path, capsys, kernels):
    out = tmp_path / "my_kernels"
    args = ["generate", "--module", str(user_module), "--out", str(out)]
    assert cli.main(args) == 0
    assert sorted(q.name for q in out.glob("*.py")) == ["__init__.py", "cauchy2.py", "trio.py"]
    assert "wrote" in capsys.readouterr().out

    assert cli.main([*args, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out

    edited = out / "trio.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert cli.main([*args, "--check"]) == 1
    printed = capsys.readouterr().out
    stale = [ln for ln in printed.splitlines() if ln.startswith("stale:")]
    assert len(stale) == 1 and stale[0].endswith("trio.py")

    assert cli.main(args) == 0  # regenerated: up to date again
    assert cli.main([*args, "--check"]) == 0
    capsys.readouterr()

    loaded = symloss.load(out)
    assert sorted(loaded) == ["cauchy2", "trio"]
    rng = np.random.default_rng(4)
    p, t = rng.normal(0, 2, 50), rng.normal(0, 2, 50)
    for name, kernel in loaded.items():
        _, f, g, h, other = LOSSES[name]
        _, reference = kernels[name]
        v, gr = kernel.value_and_grad(p, t, reduction="sum", **other)
        vr, grr = reference.value_and_grad(p, t, reduction="sum", **other)
        assert v == vr
        np.testing.assert_array_equal(gr, grr)
        assert v == pytest.approx(f(p, t, **other).sum(), rel=1e-12)
        np.testing.assert_allclose(kernel.grad_hess(p, t)[1], h(p, t), rtol=1e-10, atol=1e-12)


def test_generate_refuses_a_folder_of_foreign_python_files(user_module, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "foreign.py").write_text("x = 1\n", encoding="utf-8")
    code = cli.main(["generate", "--module", str(user_module), "--out", str(out)])
    assert code == 2
    assert "choose an empty folder" in capsys.readouterr().err
    assert [q.name for q in out.iterdir()] == ["foreign.py"]
    assert (out / "foreign.py").read_text(encoding="utf-8") == "x = 1\n"


def test_generate_module_needs_out(user_module, capsys):
    assert cli.main(["generate", "--module", str(user_module)]) == 2
    assert "--out" in capsys.readouterr().err


def test_generate_missing_module_is_a_user_error(tmp_path, capsys):
    missing = tmp_path / "nope.py"
    assert cli.main(["generate", "--module", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


# =================================================================================================
# 6a. verify_gradient proves the derivatives symloss derives for the built-ins
# =================================================================================================


class FormulaPrinter(StrPrinter):
    """A SymPy expression written in the vocabulary of `symloss.definition.parse` (Piecewise as
    ``a if cond else b``, sums over the class axis as ``class_sum``, and so on)."""

    def _print_Piecewise(self, expr):
        *pieces, (last, cond) = expr.args
        assert cond == sp.true, expr
        out = self._print(last)
        for e, cnd in reversed(pieces):
            out = f"(({self._print(e)}) if ({self._print(cnd)}) else ({out}))"
        return out

    def _print_Heaviside(self, expr):
        x, *h0 = expr.args
        assert not h0 or h0[0] == 0, expr  # the parser's Heaviside(x) is H(x) with H(0) = 0
        return f"Heaviside({self._print(x)})"

    def _print_KroneckerDelta(self, expr):
        a, b = expr.args
        return f"(1 if {self._print(a)} == {self._print(b)} else 0)"

    def _print_Sum(self, expr):
        (var, lo, hi) = expr.limits[0]
        assert len(expr.limits) == 1 and (var, lo, hi) == (c, 0, C - 1), expr
        return f"class_sum({self._print(expr.function)})"

    def _print_Relational(self, expr):
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"

    def _print_ITE(self, expr):
        a, b, d = (self._print(x) for x in expr.args)
        return f"(({a} and {b}) or ((not {a}) and {d}))"


def as_formula(expr: sp.Expr) -> str:
    helpers = (primitives.lorentz_ratio, primitives.lorentz_slope)  # no string form
    expr = expr.replace(lambda e: isinstance(e, helpers), lambda e: e.rewrite("math"))
    return FormulaPrinter().doprint(expr)


def _definitions():
    out = []
    for name in symloss.names():
        spec = symloss.get(name)
        if isinstance(spec, symloss.Loss):
            out.append(spec)
    return out


# Every built-in with a closed-form gradient (sequence losses have none), except
# large_margin_softmax (its derivative uses margin_psi/margin_intercept, which have no string
# form) and the Crammer-Singer hinge (class_argmax has none; its gradient is checked by hand
# below). The losses whose *callables* verify_gradient refuses (center_loss: a table by label;
# dice, kl_divergence: static switches on a class axis) take formulas, so they are included.
# The whole set runs in ~10 s; the class-axis ones take 0.5-1.5 s each.
ROUND_TRIP = [
    (spec.name, wrt)
    for spec in _definitions()
    if spec.frontend is None and spec.name != "multiclass_hinge_crammer_singer"
    for wrt in spec.differentiable
]


def test_round_trip_list_is_the_expected_one():
    names = {n for n, _ in ROUND_TRIP}
    assert {"huber", "mse", "l1", "l2", "softmax_cross_entropy", "tversky", "dice"} <= names
    assert not names & {"ctc", "edit_distance", "soft_edit_distance", "large_margin_softmax"}


@pytest.mark.parametrize("name, wrt", ROUND_TRIP, ids=[f"{n}-{w}" for n, w in ROUND_TRIP])
def test_builtin_derivatives_written_as_strings_are_proved(name, wrt):
    spec = symloss.get(name)
    text = as_formula(_truth(spec, wrt))  # norms: g'(S)·ℓ' in terms of S
    report = symloss.verify_gradient(name, text, wrt=wrt)
    assert report, f"{text}\n{report}"
    assert "CORRECT" in str(report)


# The derivatives whose plain str() happens to use only the parser's vocabulary today.
PLAIN_STR = [
    ("mse", "pred"),
    ("mae", "pred"),
    ("log_cosh", "pred"),
    ("poisson_nll", "pred"),
    ("gaussian_nll", "pred"),
    ("sigmoid_cross_entropy", "logits"),
    ("balanced_sigmoid_cross_entropy", "logits"),
    ("l1", "pred"),
    ("center_loss", "x"),
    ("center_loss", "centers"),
]


@pytest.mark.parametrize("name, wrt", PLAIN_STR, ids=[f"{n}-{w}" for n, w in PLAIN_STR])
def test_builtin_derivative_str_round_trips(name, wrt):
    spec = symloss.get(name)
    text = sp.sstr(_truth(spec, wrt)) if spec.family == "norm" else str(spec.derivative(wrt))
    assert symloss.verify_gradient(name, text, wrt=wrt)


def test_every_builtin_derivative_str_round_trips():
    failures = []
    for name, wrt in ROUND_TRIP:
        spec = symloss.get(name)
        text = sp.sstr(_truth(spec, wrt)) if spec.family == "norm" else str(spec.derivative(wrt))
        try:
            if not symloss.verify_gradient(name, text, wrt=wrt):
                failures.append(f"{name}/{wrt}: not proved")
        except FormulaError as exc:
            failures.append(f"{name}/{wrt}: {str(exc)[:120]}")
    assert not failures, "\n".join(failures)


def test_derivatives_of_the_class_axis_losses_agree_with_term_by_term_differentiation():
    # Numeric path only: the symbolic derivative against the definition's sums written out
    # for C = 5 and differentiated term by term (not a comparison of a formula with itself).
    for name in ["softmax_cross_entropy", "softmax_focal", "tversky", "multiclass_hinge"]:
        spec = symloss.get(name)
        wrt = spec.differentiable[0]
        report = symloss.verify_gradient(spec, spec.derivative(wrt), symbolic=False)
        assert report and report.method == "numeric" and report.points > 100, str(report)


def test_callables_are_refused_cleanly_where_kernels_take_other_inputs():
    zero = lambda *a, **k: 0.0  # noqa: E731
    for name in ["center_loss", "large_margin_softmax", "dice", "kl_divergence"]:
        with pytest.raises(NotImplementedError, match="takes formulas"):
            symloss.verify_gradient(name, zero)
    for name in ["ctc", "edit_distance", "soft_edit_distance"]:
        with pytest.raises(TypeError, match="sequence loss"):
            symloss.verify_gradient(name, "0")


# =================================================================================================
# 6b. Gradients derived by hand are proved
# =================================================================================================

LS = "(target*(1 - label_smoothing) + label_smoothing/2)"  # y' of the smoothed label
P_J = "exp(logits[j])/class_sum(exp(logits[c]))"
CS_MAX = "class_max(-inf if c == target else scores[c])"  # max over the other classes

HAND = [
    ("mse", "2*(pred - target)"),
    ("mae", "sign(pred - target)"),
    ("huber", "pred - target if abs(pred - target) < delta else delta*sign(pred - target)"),
    ("huber", "where(abs(pred - target) <= delta, pred - target, delta*sign(pred - target))"),
    ("huber", "max(-delta, min(delta, pred - target))"),
    ("log_cosh", "tanh(pred - target)"),
    (
        "sigmoid_cross_entropy",
        f"pos_weight*{LS}*(sigmoid(logits) - 1) + (1 - {LS})*sigmoid(logits)",
    ),
    ("cauchy", "(pred - target)/(1 + ((pred - target)/c)**2)"),
    ("quantile", "1 - tau if pred > target else -tau"),
    ("l1", "sign(pred - target)"),
    ("l2", "(pred - target)/sqrt(S)"),
    (
        "softmax_cross_entropy",
        f"(1 - label_smoothing)*weight[target]*({P_J} - (1 if j == target else 0))"
        f" + label_smoothing/C*({P_J}*class_sum(weight[c]) - weight[j])",
    ),
    (
        # at the maximiser s_j = max exactly, so 1 - H(max - s_j) (H(0) = 0) picks it
        "multiclass_hinge_crammer_singer",
        f"Heaviside(margin + {CS_MAX} - scores[target])"
        f" * ((0 if j == target else 1 - Heaviside({CS_MAX} - scores[j]))"
        " - (1 if j == target else 0))",
    ),
]


@pytest.mark.parametrize("name, candidate", HAND, ids=[f"{n}-{k}" for k, (n, _) in enumerate(HAND)])
def test_hand_derived_gradients_are_proved(name, candidate):
    report = symloss.verify_gradient(name, candidate)
    assert report, str(report)
    assert report.counterexample is None and str(report).startswith("CORRECT")


# =================================================================================================
# 6c. Wrong gradients are rejected with a counterexample
# =================================================================================================

WRONG = [
    ("mse", "-2*(pred - target)", "sign"),
    ("mse", "pred - target", "factor"),
    (
        "huber",
        "delta*sign(pred - target) if abs(pred - target) < delta else pred - target",
        "branches swapped",
    ),
    (
        "huber",
        "pred - target if abs(pred - target) < 2*delta else delta*sign(pred - target)",
        "threshold 2δ",
    ),
    ("huber", "pred - target if abs(pred - target) < 1 else sign(pred - target)", "δ = 1 only"),
    ("quantile", "tau - 1 if pred > target else -tau", "sign of a branch"),
    ("cauchy", "(pred - target)/(1 + (pred - target)**2)", "c = 1 only"),
    ("sigmoid_cross_entropy", "pos_weight*target*(sigmoid(logits) - 1)", "missing term"),
    ("l2", "2*(pred - target)/sqrt(S)", "factor"),
    (
        "softmax_cross_entropy",
        f"weight[target]*({P_J} - (1 if j == target else 0))",
        "no label smoothing",
    ),
    ("softmax_cross_entropy", f"{P_J} - (1 if j == target else 0)", "no weights, no smoothing"),
    (
        # H(0) = 0 at the maximiser: the gradient of the other class is lost there
        "multiclass_hinge_crammer_singer",
        f"Heaviside(margin + {CS_MAX} - scores[target])"
        f" * ((0 if j == target else Heaviside(scores[j] - {CS_MAX}))"
        " - (1 if j == target else 0))",
        "Heaviside convention at the maximiser",
    ),
]


@pytest.mark.parametrize("name, candidate, what", WRONG, ids=[f"{n}-{w}" for n, _, w in WRONG])
def test_wrong_gradients_are_rejected_with_a_counterexample(name, candidate, what):
    report = symloss.verify_gradient(name, candidate)
    assert not report
    assert str(report).startswith("WRONG") and "counterexample" in str(report)
    ce = report.counterexample
    assert isinstance(ce, dict)
    spec = symloss.get(name)
    assert set(spec.input_names) <= set(ce) and {"truth", "candidate"} <= set(ce)
    assert ce["truth"] != pytest.approx(ce["candidate"], rel=1e-6)


def _huber_ce(candidate):
    ce = symloss.verify_gradient("huber", candidate).counterexample
    p, t, d = ce["pred"], ce["target"], ce["delta"]
    # the reported truth is the hand-derived gradient at that point
    assert ce["truth"] == pytest.approx(float(huber_grad_np(p, t, d)), rel=1e-12)
    return p - t, d, ce


def test_counterexamples_point_at_the_mistake():
    r, d, ce = _huber_ce(
        "pred - target if abs(pred - target) < 2*delta else delta*sign(pred - target)"
    )
    assert d <= abs(r) < 2 * d and ce["candidate"] == pytest.approx(r, rel=1e-12)
    r, d, ce = _huber_ce("pred - target if abs(pred - target) < 1 else sign(pred - target)")
    assert d != pytest.approx(1.0)  # right only at the default δ = 1: found elsewhere
    expected = r if abs(r) < 1 else np.sign(r)
    assert ce["candidate"] == pytest.approx(expected, rel=1e-12)
    ce = symloss.verify_gradient(
        "softmax_cross_entropy", f"weight[target]*({P_J} - (1 if j == target else 0))"
    ).counterexample
    assert ce["label_smoothing"] > 0 and len(ce["logits"]) == len(ce["weight"]) == 5
    z, w, y, j, eps = (ce[k] for k in ("logits", "weight", "target", "j", "label_smoothing"))
    p = np.exp(z - np.max(z)) / np.exp(z - np.max(z)).sum()
    truth = (1 - eps) * w[y] * (p[j] - (j == y)) + eps / 5 * (p[j] * sum(w) - w[j])
    assert ce["truth"] == pytest.approx(truth, rel=1e-9)


@pytest.mark.parametrize(
    "name, candidate",
    [("mse", "pred/0"), ("softmax_cross_entropy", "logits[j]/class_sum(0*logits[c])")],
)
def test_division_by_zero_candidate_is_reported_not_crashing(name, candidate):
    try:
        report = symloss.verify_gradient(name, candidate)
    except FormulaError:
        return
    assert not report


# =================================================================================================
# 6d. Callables
# =================================================================================================


def test_callable_huber_gradients():
    good = symloss.verify_gradient("huber", lambda p, t, delta: np.clip(p - t, -delta, delta))
    assert good and good.method == "callable" and good.points > 200
    bad = symloss.verify_gradient("huber", lambda p, t, delta: np.clip(p - t, -1, 1))
    assert not bad and "counterexample" in str(bad)
    ce = bad.counterexample
    assert ce["delta"] != pytest.approx(1.0)
    assert ce["candidate"] == pytest.approx(np.clip(ce["pred"] - ce["target"], -1, 1))
    assert ce["truth"] == pytest.approx(float(huber_grad_np(ce["pred"], ce["target"], ce["delta"])))


def test_a_callable_that_raises_is_a_wrong_report():
    def boom(pred, target, delta):
        raise RuntimeError("boom")

    report = symloss.verify_gradient("huber", boom)
    assert not report
    assert "RuntimeError" in str(report) and "boom" in str(report)


def test_callable_softmax_cross_entropy_in_numpy():
    def grad(logits, target, weight, label_smoothing):
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n, k = logits.shape
        w = np.broadcast_to(np.asarray(weight, dtype=float), (k,))
        onehot = np.eye(k)[target]
        return (1 - label_smoothing) * w[target][:, None] * (p - onehot) + label_smoothing / k * (
            p * w.sum() - w
        )

    assert symloss.verify_gradient("softmax_cross_entropy", grad)

    def unsmoothed(logits, target, weight, label_smoothing):
        return grad(logits, target, weight, 0.0)

    assert not symloss.verify_gradient("softmax_cross_entropy", unsmoothed)


KERNEL_CALLABLES = [
    "mse",
    "huber",
    "log_cosh",
    "cauchy",
    "quantile",
    "smooth_l1",
    "sigmoid_cross_entropy",
    "hinge",
    "gaussian_nll",
]


@pytest.mark.parametrize("name", KERNEL_CALLABLES)
def test_builtin_kernels_as_callables_are_accepted(name):
    kernel = symloss.loss(name)
    report = symloss.verify_gradient(name, lambda *a, **k: kernel.grad_hess(*a, **k)[0])
    assert report, str(report)


def test_poisson_nll_kernel_as_callable_is_accepted():
    kernel = symloss.loss("poisson_nll")
    with np.errstate(over="ignore"):
        assert symloss.verify_gradient("poisson_nll", lambda p, t, full: np.exp(p) - t)
        assert symloss.verify_gradient("poisson_nll", lambda *a, **k: kernel.grad_hess(*a, **k)[0])


def test_callables_of_a_compiled_user_loss(kernels):
    spec, kernel = kernels["cauchy2"]
    assert symloss.verify_gradient(spec, lambda *a, **k: kernel.grad_hess(*a, **k)[0])
    assert symloss.verify_gradient(spec, cauchy_grad_np)
    assert not symloss.verify_gradient(spec, lambda p, t, c: cauchy_grad_np(p, t, 1.0))


# =================================================================================================
# 6e. The command line
# =================================================================================================

HUBER_OK = "pred - target if abs(pred - target) < delta else delta*sign(pred - target)"
HUBER_DELTA_1 = "pred - target if abs(pred - target) < 1 else sign(pred - target)"

GRADS = """
import numpy as np


def good(pred, target, delta):
    return np.clip(pred - target, -delta, delta)


def bad(pred, target, delta):
    return np.clip(pred - target, -1.0, 1.0)
"""


def test_cli_verify_grad(capsys):
    assert cli.main(["verify", "huber", "--grad", HUBER_OK]) == 0
    assert capsys.readouterr().out.startswith("CORRECT")
    assert cli.main(["verify", "huber", "--grad", HUBER_DELTA_1]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WRONG") and "counterexample" in out and "delta=" in out
    assert cli.main(["verify", "huber", "--grad", "pred*q"]) == 2
    assert "unknown name 'q'" in capsys.readouterr().err
    assert cli.main(["verify", "huber", "mse", "--grad", "pred"]) == 2
    assert "exactly one NAME" in capsys.readouterr().err


def test_cli_verify_grad_callable(tmp_path, capsys, monkeypatch):
    (tmp_path / "byo_hand_grads.py").write_text(GRADS, encoding="utf-8")
    path = tmp_path / "byo_hand_grads.py"
    assert cli.main(["verify", "huber", "--grad-callable", f"{path}:good"]) == 0
    assert capsys.readouterr().out.startswith("CORRECT")
    assert cli.main(["verify", "huber", "--grad-callable", f"{path}:bad"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WRONG") and "counterexample" in out
    assert cli.main(["verify", "huber", "--grad-callable", f"{path}:missing"]) == 2
    assert "has no 'missing'" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # module:function, found beside the caller
    monkeypatch.delitem(sys.modules, "byo_hand_grads", raising=False)
    assert cli.main(["verify", "huber", "--grad-callable", "byo_hand_grads:good"]) == 0
    monkeypatch.delitem(sys.modules, "byo_hand_grads", raising=False)


def test_cli_verify_grad_of_a_user_module(user_module, capsys):
    grad = "(pred - target)/(1 + ((pred - target)/c)**2)"
    args = ["verify", "cauchy2", "--module", str(user_module), "--grad"]
    assert cli.main([*args, grad]) == 0
    assert capsys.readouterr().out.startswith("CORRECT")
    assert cli.main([*args, "pred - target"]) == 1
    assert "counterexample" in capsys.readouterr().out
    assert cli.main(["verify", "nope", "--module", str(user_module), "--grad", grad]) == 2
    assert "defines no loss 'nope'" in capsys.readouterr().err


def test_cli_verify_grad_subprocess(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "symloss", "verify", "huber", "--grad", HUBER_DELTA_1],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "WRONG" in out.stdout and "counterexample" in out.stdout


def test_define_rejects_an_unknown_accuracy():
    with pytest.raises(ValueError, match="accuracy must be"):
        symloss.define("acc_bad", "(pred - target)**2", accuracy="normwise")


_COS_GRAD = (
    "-target[j]/(max(sqrt(class_sum(pred[c]**2)), eps)*max(sqrt(class_sum(target[c]**2)), eps))"
    " + where(sqrt(class_sum(pred[c]**2)) > eps, pred[j]*class_sum(pred[c]*target[c])"
    "/(class_sum(pred[c]**2)**(3/2)*max(sqrt(class_sum(target[c]**2)), eps)), 0)"
)
_TRIPLET_GRAD = (  # ∂/∂positive_j, derived by hand
    "where(sqrt(class_sum((anchor[c] - positive[c] + eps)**2))"
    " - sqrt(class_sum((anchor[c] - negative[c] + eps)**2)) + margin > 0,"
    " -(anchor[j] - positive[j] + eps)/sqrt(class_sum((anchor[c] - positive[c] + eps)**2)), 0)"
)


@pytest.mark.parametrize(
    "name, wrt, candidate, right",
    [
        ("cosine_distance", "pred", _COS_GRAD, True),
        ("cosine_distance", "pred", _COS_GRAD.replace("**(3/2)", ""), False),  # ‖x‖³ → ‖x‖²
        ("cosine_distance", "pred", _COS_GRAD.replace("> eps", "> 0"), False),  # the clamp
        ("triplet_margin", "positive", _TRIPLET_GRAD, True),
        ("triplet_margin", "positive", _TRIPLET_GRAD.replace(" -(anchor", " (anchor"), False),
    ],
)
def test_verify_gradient_of_the_vector_distances(name, wrt, candidate, right):
    report = symloss.verify_gradient(name, candidate, wrt=wrt)
    assert bool(report) is right, str(report)
    if not right:
        assert "counterexample" in str(report)
