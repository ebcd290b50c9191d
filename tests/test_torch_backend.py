"""The generated PyTorch code: device-agnostic (runs on the meta device, where any host round
trip fails), traceable whole (torch.compile with fullgraph=True), composable (torch.func grad,
vmap, hessian), with clear errors. Its accuracy is the gate's (tests/test_kernels.py runs
`verify_torch` beside the kernels' check). Skipped without torch."""

import ast

import numpy as np
import pytest

from symloss.catalog import BUILTINS
from symloss.locations import generated_dir

torch = pytest.importorskip("torch")

from symloss.integrations.torch import function, generated  # noqa: E402

COVERED = sorted(n for n, d in BUILTINS.items() if d.family == "elementwise")


def _inputs(name, rng, n, device="cpu", dtype=torch.float64):
    """Inputs in each loss's domain: labels in {0, 1}, targets in [0, 1] or ≥ 0 where the
    definition needs them, positive variances."""
    d = BUILTINS[name]
    out = []
    for i, spec in enumerate(d.inputs):
        if i == 0:
            a = rng.normal(0, 2, n)
        elif spec.labels == "signs":
            a = (rng.random(n) > 0.5).astype(float)
        elif name.startswith(("sigmoid", "balanced")) or name == "poisson_nll":
            a = rng.random(n)
        elif spec.name == "var":
            a = rng.uniform(0.5, 2, n)
        else:
            a = rng.normal(size=n)
        out.append(torch.tensor(a, dtype=dtype).to(device))
    return out


def test_the_backend_generates_every_elementwise_loss():
    assert sorted(n for n in COVERED if generated(n) is not None) == COVERED
    assert generated("softmax_cross_entropy") is None


TORCH_FILES = sorted((generated_dir() / "torch").glob("*.py"))


@pytest.mark.parametrize("path", TORCH_FILES, ids=[p.name for p in TORCH_FILES])
def test_generated_torch_code_never_leaves_the_device(path):
    """No NumPy, no .item()/.numpy()/.cpu()/.tolist(), no Python math on tensors: every call
    is torch's or torchmath's (math only for its constants)."""
    tree = ast.parse(path.read_text())
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports <= {"math", "torch", "symloss"}, imports
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("item", "numpy", "cpu", "tolist"), ast.unparse(node)
            if isinstance(node.value, ast.Name) and node.value.id == "math":
                assert node.attr in ("inf", "nan", "pi"), ast.unparse(node)


@pytest.mark.parametrize("name", COVERED)
def test_every_loss_runs_forward_backward_and_double_backward_on_the_meta_device(name, rng):
    f = function(name, reduction="mean")
    x, *others = _inputs(name, rng, 6)
    xm = x.to("meta").requires_grad_(True)
    loss = f(xm, *(o.to("meta") for o in others))
    (g,) = torch.autograd.grad(loss, xm, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xm)
    assert loss.shape == () and g.shape == h.shape == (6,)
    assert loss.device.type == g.device.type == h.device.type == "meta"


@pytest.mark.parametrize("name", COVERED)
def test_gradcheck_and_gradgradcheck_of_every_loss(name, rng):
    f = function(name, reduction="sum")
    x, *others = _inputs(name, rng, 7)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: f(a, *others), (x,))
    assert torch.autograd.gradgradcheck(lambda a: f(a, *others), (x,))


def test_a_parameter_given_as_a_tensor_broadcasts_and_is_checked(rng):
    x = torch.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    y = torch.tensor((rng.random((3, 4)) > 0.5).astype(float))
    pos_weight = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    ours = function("sigmoid_cross_entropy", pos_weight=pos_weight)(x, y)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight)
    torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="pos_weight must be in"):
        function("sigmoid_cross_entropy", pos_weight=-pos_weight)(x, y)


def test_torch_func_grad_vmap_and_hessian_match_autograd_of_the_plain_formula(rng):
    """log-cosh at moderate residuals, where log(cosh r) in float64 is accurate: torch's own
    autograd of it is an independent reference for ℓ' and ℓ''."""
    from torch.func import grad, hessian, vmap

    f = function("log_cosh", reduction="sum")
    x = torch.tensor(rng.normal(0, 2, 9))
    y = torch.tensor(rng.normal(size=9))

    def plain(a):
        return torch.log(torch.cosh(a - y)).sum()

    torch.testing.assert_close(grad(lambda a: f(a, y))(x), grad(plain)(x), rtol=1e-13, atol=0)
    torch.testing.assert_close(
        # 1 - tanh² of the plain formula's autograd cancels where ℓ'' ≪ 1: an absolute bound
        hessian(lambda a: f(a, y))(x),
        hessian(plain)(x),
        rtol=1e-12,
        atol=1e-14,
    )
    xs = torch.tensor(rng.normal(size=(4, 9)))
    torch.testing.assert_close(
        vmap(lambda a: f(a, y))(xs), torch.stack([plain(a) for a in xs]), rtol=1e-13, atol=0
    )


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_a_training_step_compiles_whole(backend, rng):
    """torch.compile(fullgraph=True) fails on any graph break; the compiled step's loss and
    gradients equal the eager ones."""
    torch._dynamo.reset()
    X = torch.tensor(rng.normal(size=(32, 4)))
    y = torch.tensor(rng.random(32))
    model = torch.nn.Linear(4, 1).double()
    focal = function("sigmoid_focal", gamma=2.0)

    def step(inputs, target):
        return focal(model(inputs).squeeze(-1), target)

    def gradients(loss):
        return torch.autograd.grad(loss, list(model.parameters()))

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    eager, traced = step(X, y), compiled(X, y)  # the backward pass: compiled with the forward
    torch.testing.assert_close(traced, eager, rtol=1e-14, atol=0)
    for a, b in zip(gradients(traced), gradients(eager)):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-16)


def test_float16_and_bfloat16_are_computed_in_float32(rng):
    x = torch.tensor(rng.normal(size=20), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=20), dtype=torch.float32)
    want = function("log_cosh", reduction="none")(x, y)
    for low in (torch.float16, torch.bfloat16):
        got = function("log_cosh", reduction="none")(x.to(low), y.to(low))
        assert got.dtype == low
        exact = function("log_cosh", reduction="none")(x.to(low).float(), y.to(low).float())
        torch.testing.assert_close(got, exact.to(low), rtol=0, atol=0)
        assert torch.allclose(got.float(), want, rtol=0.05, atol=0.05)


def test_errors_name_the_argument(rng):
    x = torch.tensor(rng.normal(size=5), requires_grad=True)
    mse = function("mse")
    with pytest.raises(ValueError, match="target requires a gradient"):
        mse(x, torch.zeros(5, dtype=torch.float64, requires_grad=True))
    with pytest.raises(ValueError, match="target is on meta but pred on cpu"):
        mse(x, torch.zeros(5, device="meta"))
    with pytest.raises(ValueError, match=r"target of shape \(4,\) does not broadcast"):
        mse(x, torch.zeros(4))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not broadcast"):
        mse(x, torch.zeros(5), weight=torch.ones(3))
    with pytest.raises(TypeError, match="pred must be a floating-point tensor"):
        mse(torch.arange(5), torch.zeros(5))
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        mse(np.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"labels in \{-1, \+1\} or in \{0, 1\}, got 2.0"):
        function("hinge")(x, torch.tensor([0.0, 1, 2, 1, 0]))
    with pytest.raises(ValueError, match="gamma must be in"):
        function("sigmoid_focal", gamma=-1.0)


def test_labels_zero_one_become_signs_as_the_kernels_do(rng):
    x = torch.tensor(rng.normal(size=8))
    y01 = torch.tensor((rng.random(8) > 0.5).astype(float))
    hinge = function("hinge", reduction="none")
    torch.testing.assert_close(hinge(x, y01), hinge(x, 2 * y01 - 1), rtol=0, atol=0)
    torch.testing.assert_close(hinge(x, y01), torch.clamp(1 - (2 * y01 - 1) * x, min=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_equals_cpu(rng):  # pragma: no cover - no GPU on this machine
    for name in COVERED:
        x, *others = _inputs(name, rng, 64)
        f = function(name, reduction="none")
        got = f(x.cuda(), *(o.cuda() for o in others)).cpu()
        torch.testing.assert_close(got, f(x, *others), rtol=1e-13, atol=1e-300)
