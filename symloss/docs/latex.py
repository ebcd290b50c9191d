"""Text (a loss's doc, a parameter's range) as LaTeX source: specials escaped, the Unicode
the definitions use spelled in LaTeX, anything else an error naming the character."""

from __future__ import annotations

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "_": r"\_\allowbreak{}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
}
_TEX_SPECIAL |= {"$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_TEX_UNICODE = {
    "‖": r"$\|$",
    "·": r"$\cdot$",
    "≠": r"$\neq$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "-",
    "²": r"$^2$",
    "ᵀ": r"$^T$",
    "…": r"\ldots{}",
    "→": r"$\to$",
    "∈": r"$\in$",
    "×": r"$\times$",
    "√": r"$\surd$",
    "∞": r"$\infty$",
    "Σ": r"$\Sigma$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "δ": r"$\delta$",
    "ε": r"$\varepsilon$",
    "θ": r"$\theta$",
    "λ": r"$\lambda$",
    "μ": r"$\mu$",
    "π": r"$\pi$",
    "σ": r"$\sigma$",
    "ψ": r"$\psi$",
    "ρ": r"$\rho$",
    "≪": r"$\ll$",
    "₁": r"$_1$",
    "₂": r"$_2$",
    "ŷ": r"$\hat y$",
    "₊": r"$_+$",
    "—": "---",
    "–": "--",
    "≈": r"$\approx$",
    "½": r"$\frac{1}{2}$",
    "ℓ": r"$\ell$",
    "∂": r"$\partial$",
    "Δ": r"$\Delta$",
    "η": r"$\eta$",
    "τ": r"$\tau$",
    "ω": r"$\omega$",
    "≻": r"$\succ$",
    "∑": r"$\sum$",
    "⋅": r"$\cdot$",
    "’": "'",
}


def tex(text) -> str:
    """Plain text for LaTeX: special characters escaped, Greek and symbols as math."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _TEX_UNICODE:
            out.append(_TEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            raise ValueError(f"no LaTeX spelling for {ch!r} in {text!r}: add it to _TEX_UNICODE")
    return "".join(out)
