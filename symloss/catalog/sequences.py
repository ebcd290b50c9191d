"""Sequence losses: the DP cells of CTC, the soft edit distance and the edit distance."""

import sympy as sp

from ..definition.recurrence import define_recurrence

stay, step, skip, emit = sp.symbols("stay step skip emit", real=True)
ctc = define_recurrence(
    "ctc",
    # α_t(s) = log(e^{α_{t-1}(s)} + e^{α_{t-1}(s-1)} + e^{α_{t-1}(s-2)}) + log p_t(l'_s)
    sp.log(sp.exp(stay) + sp.exp(step) + sp.exp(skip)) + emit,
    family="ctc",
    predecessors=(stay, step, skip),
    locals=(emit,),
    equations=(
        r"l' &= (b, l_1, b, l_2, \ldots, l_L, b) \quad \text{(the target with blanks } b\text{)}",
        r"\alpha_0(0) &= \log p_0(b), \quad \alpha_0(1) = \log p_0(l_1)",
        r"\alpha_t(s) &= \log\left(e^{\alpha_{t-1}(s)} + e^{\alpha_{t-1}(s-1)}"
        r" + [l'_s \ne b \wedge l'_s \ne l'_{s-2}]\, e^{\alpha_{t-1}(s-2)}\right)"
        r" + \log p_t(l'_s)",
        r"\mathcal{L} &= -\log\left(e^{\alpha_{T-1}(2L)} + e^{\alpha_{T-1}(2L-1)}\right)",
        r"V &= \alpha_t(s), \quad \mathrm{stay} = \alpha_{t-1}(s), \quad"
        r" \mathrm{step} = \alpha_{t-1}(s-1), \quad \mathrm{skip} = \alpha_{t-1}(s-2),"
        r" \quad \mathrm{emit} = \log p_t(l'_s)",
    ),
    doc="Connectionist temporal classification (Graves et al., 2006): -log of the total "
    "probability of the alignments of the target, log p = log_softmax(logits).",
)

up, left, diag, sub, gamma = sp.symbols("up left diag sub gamma", real=True)
soft_edit_distance = define_recurrence(
    "soft_edit_distance",
    # soft-min_γ of (delete, insert, substitute): -γ log Σ exp(-a/γ)
    -gamma
    * sp.log(
        sp.exp(-(up + 1) / gamma) + sp.exp(-(left + 1) / gamma) + sp.exp(-(diag + sub) / gamma)
    ),
    family="soft_edit",
    predecessors=(up, left, diag),
    locals=(sub,),
    params={"gamma": (1.0, sp.Interval.open(0, sp.oo))},
    equations=(
        r"D_{0,0} &= 0, \quad D_{i,0} = i, \quad D_{0,j} = j",
        r"D_{i,j} &= \operatorname{softmin}_\gamma\left(D_{i-1,j} + 1,\ D_{i,j-1} + 1,\ "
        r"D_{i-1,j-1} + 1 - p_i(y_j)\right)",
        r"\operatorname{softmin}_\gamma(a) &= -\gamma \log \textstyle\sum_k e^{-a_k/\gamma},"
        r" \quad p_i = \operatorname{softmax}(z_i), \quad \mathcal{L} = D_{T,S}",
        r"V &= D_{i,j}, \quad \mathrm{up} = D_{i-1,j}, \quad \mathrm{left} = D_{i,j-1}, \quad"
        r" \mathrm{diag} = D_{i-1,j-1}, \quad \mathrm{sub} = 1 - p_i(y_j)",
    ),
    doc="A differentiable edit distance between predicted class scores (T, C) and a label "
    "sequence: the Levenshtein DP with min replaced by a soft-min of temperature γ.",
)

same = sp.Symbol("same", real=True)  # 1 where the two symbols are equal, else 0
c_ins, c_del, c_sub = sp.symbols("insert delete substitute", real=True)
edit_distance = define_recurrence(
    "edit_distance",
    sp.Min(up + c_del, left + c_ins, diag + c_sub * (1 - same)),
    family="edit",
    predecessors=(up, left, diag),
    locals=(same,),
    params={
        "delete": (1.0, sp.Interval(0, sp.oo)),
        "insert": (1.0, sp.Interval(0, sp.oo)),
        "substitute": (1.0, sp.Interval(0, sp.oo)),
    },
    equations=(
        r"D_{0,0} &= 0, \quad D_{i,0} = i\,c_{\mathrm{del}}, \quad D_{0,j} = j\,c_{\mathrm{ins}}",
        r"D_{i,j} &= \min\left(D_{i-1,j} + c_{\mathrm{del}},\ D_{i,j-1} + c_{\mathrm{ins}},\ "
        r"D_{i-1,j-1} + c_{\mathrm{sub}}\,[h_i \ne r_j]\right), \quad d = D_{|h|,|r|}",
    ),
    doc="Levenshtein distance between a hypothesis and a reference sequence, with costs for "
    "insertions, deletions and substitutions.",
)

RECURRENCES = (ctc, soft_edit_distance, edit_distance)
