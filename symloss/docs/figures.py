"""The reference's PNG figures, computed with the generated kernels (deterministic bytes)."""

from __future__ import annotations

import io


def figures() -> dict[str, bytes]:
    """The PNG figures, computed with the generated kernels (deterministic bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import symloss

    plt.rcParams.update({"svg.hashsalt": "symloss", "font.size": 9})
    r = np.linspace(-3, 3, 601)
    zero = np.zeros_like(r)

    def each(name, *args, **kw):
        return symloss.loss(name)(*args, reduction="none", **kw)

    def grad(name, *args, **kw):
        return symloss.loss(name).value_and_grad(*args, reduction="none", **kw)[1]

    out = {}

    def save(fig, name):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        out[name] = buf.getvalue()

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    for name in ("mse", "mae"):
        a.plot(r, each(name, r, zero), label=name)
        b.plot(r, grad(name, r, zero), label=name)
    a.set(xlabel="residual r", ylabel="loss", title="loss")
    b.set(xlabel="residual r", ylabel="d loss / d r", title="derivative")
    a.legend(), b.legend()
    save(fig, "mse_mae.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for delta in (0.5, 1.0, 2.0):
        ax.plot(r, each("huber", r, zero, delta=delta), label=f"huber, delta = {delta}")
    ax.plot(r, each("smooth_l1", r, zero, beta=1.0), "--", label="smooth L1, beta = 1")
    ax.set(xlabel="residual r", ylabel="loss")
    ax.legend()
    save(fig, "huber.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(r, each("log_cosh", r, zero), label="log cosh r")
    ax.plot(r, r**2 / 2, ":", label="r^2 / 2")
    ax.plot(r, np.abs(r) - np.log(2), "--", label="|r| - log 2")
    ax.set(xlabel="residual r", ylabel="loss", ylim=(-0.8, 3.2))
    ax.legend()
    save(fig, "log_cosh.png")

    p = np.linspace(0.01, 0.999, 500)
    logit = np.log(p) - np.log1p(-p)
    ones = np.ones_like(p)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(p, each("sigmoid_cross_entropy", logit, ones), label="cross entropy")
    for gamma in (0.5, 1.0, 2.0, 5.0):
        focal = each("sigmoid_focal", logit, ones, alpha=-1.0, gamma=gamma)
        ax.plot(p, focal, label=f"focal, gamma = {gamma}")
    ax.set(xlabel="p_t (probability of the true class)", ylabel="loss", ylim=(0, 4))
    ax.legend()
    save(fig, "cross_entropy_focal.png")

    m = np.linspace(-2, 3, 500)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(m, each("hinge", m, ones[: m.size]), label="hinge")
    ax.plot(m, each("hinge", m, ones[: m.size], squared=True), label="squared hinge")
    ax.plot(
        m, each("sigmoid_cross_entropy", m, ones[: m.size]) / np.log(2), label="logistic / log 2"
    )
    ax.set(xlabel="margin y f", ylabel="loss", ylim=(0, 5))
    ax.legend()
    save(fig, "margin.png")
    return out
