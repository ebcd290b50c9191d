"""The reference documents: `generated/docs/losses.tex`, `losses.md` and `figures/*.png`.

Every formula is printed from the definitions (the losses' expressions and derivatives, the
recurrences' cells); the templates in `templates/docs/` hold the layout and the prose. Long
formulas are shown as named pieces (A_1 = …) so that no line runs off the page. Output is
deterministic: stable ordering, fixed figure metadata.

- `contents`: sections, relations, figures (what the reference says)
- `entries`: each loss's entry, its formulas split into named pieces
- `figures`: the PNG figures
- `latex`: text as LaTeX source
- `render`: the documents from their templates; generated/docs on disk
"""

from __future__ import annotations

from .contents import FIGURES, LINE_LIMIT, RELATIONS, SECTIONS
from .entries import Entry, Formula, entries, named_pieces, split
from .figures import figures
from .latex import tex
from .render import build, stale, write

__all__ = [
    "build",
    "entries",
    "Entry",
    "figures",
    "FIGURES",
    "Formula",
    "LINE_LIMIT",
    "named_pieces",
    "RELATIONS",
    "SECTIONS",
    "split",
    "stale",
    "tex",
    "write",
]
