"""The documents from their templates (templates/docs/), and generated/docs on disk."""

from __future__ import annotations

from pathlib import Path

from .contents import FIGURES, RELATIONS
from .entries import entries
from .figures import figures
from .latex import tex


def _environment():
    """Jinja for LaTeX and Markdown: << >> and <% %>, which never clash with { } of LaTeX."""
    import jinja2

    from ..locations import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["tex"] = tex
    env.filters["figlabel"] = lambda f: {
        "mse_mae.png": "mse-mae",
        "huber.png": "huber",
        "log_cosh.png": "log-cosh",
        "cross_entropy_focal.png": "focal",
        "margin.png": "margin",
    }.get(f, f.rsplit(".", 1)[0])
    env.filters["anchor"] = lambda t: "-".join(t.lower().split())
    return env


def build(names=None, with_figures: bool = True) -> dict[str, str | bytes]:
    """Relative path (under generated/docs) → content of every document file."""
    from ..codegen import header

    sections = entries(names)
    env = _environment()
    files: dict[str, str | bytes] = {}
    for template, out in (
        ("docs/losses.tex.jinja", "losses.tex"),
        ("docs/losses.md.jinja", "losses.md"),
    ):
        files[out] = env.get_template(template).render(
            header=header(template, "symloss.catalog"),
            sections=sections,
            relations=RELATIONS,
            figures=FIGURES,
        )
    if with_figures:
        files.update({f"figures/{k}": v for k, v in figures().items()})
    return files


def write(files: dict, out: Path) -> list[str]:
    changed = []
    for rel, content in sorted(files.items()):
        path = out / rel
        data = content.encode() if isinstance(content, str) else content
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(rel)
    return changed


def stale(files: dict, out: Path) -> list[str]:
    bad = []
    for rel, content in sorted(files.items()):
        data = content.encode() if isinstance(content, str) else content
        path = out / rel
        if not path.exists() or path.read_bytes() != data:
            bad.append(rel)
    known = set(files)
    extra = [
        str(p.relative_to(out))
        for p in sorted(out.rglob("*"))
        if p.is_file() and str(p.relative_to(out)) not in known
    ]
    return bad + [
        f"{e} (not generated)"
        for e in extra
        if not e.endswith((".aux", ".log", ".pdf", ".toc", ".out"))
    ]
