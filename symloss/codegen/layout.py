"""Generated Python laid out within a line width, without changing what it computes.

A line is broken only where Python ignores the break: between the tokens of a bracketed
expression (a call's arguments one per line, a long sum inside parentheses, one term per
line). A long string literal becomes adjacent literals, which the parser joins into the same
constant. So the module's syntax tree is the one it had (tests/test_code_layout.py compares
them), and a kernel compiles to the same code. Docstrings and comments are re-filled at
spaces: their words stay, in order. The layout is deterministic.
"""

from __future__ import annotations

import io
import keyword
import textwrap
import tokenize

__all__ = ["WIDTH", "wrapped"]

WIDTH = 100  # characters per line, as the project's own code
ATOM = 48  # characters of a flat bracketed group kept whole, as a double-double (hi, lo)

_OPEN, _CLOSE = "([{", ")]}"
_BINARY = frozenset(
    "+ - * / // % ** @ | & ^ << >> < > <= >= == != ".split() + ["and", "or"]
)  # ("and"/"or" are NAME tokens: matched by string)


def wrapped(source: str, width: int = WIDTH) -> str:
    """``source`` with every line longer than ``width`` broken as described above."""
    lines = source.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out: dict[int, list[str]] = {}  # physical line (1-based) → its replacement lines
    logical: list[tokenize.TokenInfo] = []
    for tok in tokens:
        if tok.type == tokenize.STRING and _triple_quoted(tok.string):
            _refill_text(lines, tok, width, out)
        if tok.type == tokenize.COMMENT and tok.line.strip().startswith("#"):
            row = tok.start[0]
            if len(lines[row - 1].rstrip("\n")) > width:
                out[row] = _refill_comment(lines[row - 1].rstrip("\n"), width)
            continue
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            _wrap_statement(lines, logical, width, out)
            logical = []
        elif tok.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING):
            logical.append(tok)
    result = []
    for row, line in enumerate(lines, start=1):
        if row in out:
            end = line[len(line.rstrip("\r\n")) :] or "\n"
            result.extend(text + end for text in out[row])
        else:
            result.append(line)
    return "".join(result)


# -- statements ---------------------------------------------------------------------------


def _wrap_statement(lines, toks, width, out) -> None:
    """Break the too long physical lines of one logical line: a statement on one line, or
    a row inside the brackets of a statement laid out over several (a dict's entries)."""
    if not toks:
        return
    if toks[0].start[0] != toks[-1].end[0]:
        _wrap_rows(lines, toks, width, out)
        return
    row = toks[0].start[0]
    line = lines[row - 1].rstrip("\r\n")
    if len(line) <= width or row in out:
        return
    comment = [t for t in toks if t.type == tokenize.COMMENT]
    code = [t for t in toks if t.type != tokenize.COMMENT]
    indent = line[: len(line) - len(line.lstrip())]
    if code[-1].string == ":" or (code[0].string != "return" and keyword.iskeyword(code[0].string)):
        # def, for, if, import …: only a bracket group is broken
        body = _layout(line, code, indent, len(indent), width, split=False)
        head = ""
    else:
        cut = _prefix_end(code)
        head = line[code[0].start[1] : code[cut - 1].end[1]] + " " if cut else ""
        body = _layout(line, code[cut:], indent, len(indent) + len(head), width, nested=False)
    above = [indent + comment[0].string] if comment else []
    out[row] = above + [indent + head + body[0], *body[1:]]


def _wrap_rows(lines, toks, width, out) -> None:
    """Rows of a multi-line statement that lie inside its brackets, each too long one laid
    out item by item (``key: value`` as the key, then the value)."""
    depth, rows = 0, {}
    for t in toks:
        rows.setdefault(t.start[0], (depth, []))[1].append(t)
        if t.type == tokenize.OP and t.string in _OPEN:
            depth += 1
        elif t.type == tokenize.OP and t.string in _CLOSE:
            depth -= 1
    for row, (start_depth, row_toks) in rows.items():
        line = lines[row - 1].rstrip("\r\n")
        code = [t for t in row_toks if t.type != tokenize.COMMENT]
        if len(line) <= width or row in out or start_depth == 0 or len(code) != len(row_toks):
            continue
        if any(t.end[0] != row for t in code) or line[: code[0].start[1]].strip():
            continue
        indent = line[: code[0].start[1]]
        commas = _depth0(code, lambda k, t: t.string == "," and t.type == tokenize.OP)
        new = []
        for n, item in enumerate(_items(code, commas)):
            if not item:
                continue
            new += _item(line, item, indent, width)
            if n < len(commas):
                new[-1] += ","
        out[row] = new


def _prefix_end(toks) -> int:
    """The tokens before the expression to lay out: ``target =`` / ``target +=`` or
    ``return`` (0: the whole line is laid out, e.g. a ``def`` or ``for`` line)."""
    depth = 0
    for k, t in enumerate(toks):
        if t.string in _OPEN:
            depth += 1
        elif t.string in _CLOSE:
            depth -= 1
        elif (
            depth == 0
            and t.type == tokenize.OP
            and t.string.endswith("=")
            and t.string
            not in (
                "==",
                "<=",
                ">=",
                "!=",
            )
        ):
            return k + 1
    return 1 if toks and toks[0].string == "return" else 0


def _text(line: str, toks) -> str:
    return line[toks[0].start[1] : toks[-1].end[1]]


def _depth0(toks, pick) -> list[int]:
    """Indices of the tokens at bracket depth 0 for which ``pick(k, token)`` holds."""
    found, depth = [], 0
    for k, t in enumerate(toks):
        if t.string in _CLOSE and t.type == tokenize.OP:
            depth -= 1
        if depth == 0 and pick(k, t):
            found.append(k)
        if t.string in _OPEN and t.type == tokenize.OP:
            depth += 1
    return found


def _ends_operand(t) -> bool:
    return t.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING) or t.string in _CLOSE


def _layout(
    line: str, toks, indent: str, lead: int, width: int, split: bool = True, nested: bool = True
) -> list[str]:
    """The expression ``toks`` as lines: the first continues a line already ``lead`` long,
    the others are indented from ``indent``. ``split``: at its top level, a tuple may go one
    item per line and a sum one term per line (both then inside parentheses). ``nested``:
    the expression is inside brackets already (a string may then continue on the next line
    without parentheses of its own)."""
    if not toks:
        return [""]
    text = _text(line, toks)
    if lead + len(text) <= width:
        return [text]
    inner = indent + "    "
    commas = _depth0(toks, lambda k, t: t.string == "," and t.type == tokenize.OP)
    named = _depth0(toks, lambda k, t: t.string == "=" and t.type == tokenize.OP)
    if split and commas and not named:
        return _bracketed("(", _items(toks, commas), ")", line, indent, width)
    ops = _depth0(
        toks,
        lambda k, t: (
            k > 0
            and t.string in _BINARY
            and t.type in (tokenize.OP, tokenize.NAME)
            and _ends_operand(toks[k - 1])
        ),
    )
    if split and ops and not named:
        parts = [toks[a:b] for a, b in zip([0, *ops], [*ops, len(toks)])]
        lines = ["("]
        for part in parts:
            sub = _layout(line, part, inner, len(inner), width)
            lines += [inner + sub[0], *sub[1:]]
        return lines + [indent + ")"]
    if len(toks) == 1 and toks[0].type == tokenize.STRING:
        return _split_string(toks[0].string, indent, lead, width, parens=not nested)
    group = _widest_group(toks)
    if group is None or _atomic(toks):
        return [text]
    k, m = group
    head, tail = _text(line, toks[: k + 1]), _text(line, toks[m:])
    content = toks[k + 1 : m]
    if not content:
        return [text]
    commas = _depth0(content, lambda j, t: t.string == "," and t.type == tokenize.OP)
    return _bracketed(head, _items(content, commas), tail, line, indent, width)


def _items(toks, commas) -> list:
    """``toks`` split at the commas, a trailing comma kept as an empty last item."""
    return [toks[a:b] for a, b in zip([0, *(c + 1 for c in commas)], [*commas, len(toks)])]


def _bracketed(head: str, items, tail: str, line, indent, width) -> list[str]:
    inner = indent + "    "
    trailing = len(items) > 1 and not items[-1]
    items = [i for i in items if i]
    lines = [head]
    for n, item in enumerate(items):
        lines += _item(line, item, inner, width)
        if n < len(items) - 1 or trailing:
            lines[-1] += ","
    return lines + [indent + tail]


def _item(line, item, indent, width) -> list[str]:
    """One item of a bracket, ``key: value`` laid out as the key, then the value."""
    colon = _depth0(item, lambda k, t: t.string == ":" and t.type == tokenize.OP)
    cut = colon[0] + 1 if colon else 0
    head = _text(line, item[:cut]) + " " if cut else ""
    body = _layout(line, item[cut:], indent, len(indent) + len(head), width)
    return [indent + head + body[0], *body[1:]]


def _atomic(toks) -> bool:
    """A short flat bracket, as a double-double constant (hi, lo) or f(x_i): kept whole."""
    brackets = [t for t in toks if t.type == tokenize.OP and t.string in _OPEN]
    return len(brackets) == 1 and toks[-1].end[1] - toks[0].start[1] <= ATOM


def _widest_group(toks):
    """(open, close) indices of the longest bracket pair at depth 0, or None."""
    best, depth, start = None, 0, 0
    for k, t in enumerate(toks):
        if t.type != tokenize.OP:
            continue
        if t.string in _OPEN:
            if depth == 0:
                start = k
            depth += 1
        elif t.string in _CLOSE:
            depth -= 1
            if depth == 0 and (best is None or k - start > best[1] - best[0]):
                best = (start, k)
    return best


def _split_string(literal: str, indent: str, lead: int, width: int, parens: bool) -> list[str]:
    """A one-line string literal as adjacent literals (in parentheses, where it is not
    inside brackets already), cut after spaces."""
    quote = literal[-1]
    if literal[0] != quote or _triple_quoted(literal):
        return [literal]  # a prefixed (b"", f"") or triple-quoted literal: left as it is
    body, room = literal[1:-1], max(width - max(lead, len(indent) + 4) - 3, 20)
    pieces, start = [], 0
    while len(body) - start > room:
        cut = body.rfind(" ", start, start + room)
        if cut <= start:
            break
        pieces.append(body[start : cut + 1])
        start = cut + 1
    pieces.append(body[start:])
    if len(pieces) == 1:
        return [literal]
    if not parens:
        return [quote + pieces[0] + quote, *(indent + quote + p + quote for p in pieces[1:])]
    inner = indent + "    "
    return ["(", *(inner + quote + p + quote for p in pieces), indent + ")"]


# -- text: docstrings and comments ---------------------------------------------------------


def _triple_quoted(literal: str) -> bool:
    return literal.lstrip("rbuRBUfF")[:3] in ('"""', "'''")


def _refill_text(lines, tok, width, out) -> None:
    """The physical lines of a triple-quoted string, each too long one re-filled at spaces."""
    for row in range(tok.start[0], tok.end[0] + 1):
        line = lines[row - 1].rstrip("\r\n")
        if len(line) <= width or row in out:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out[row] = textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [line]


def _refill_comment(line: str, width: int) -> list[str]:
    indent = line[: len(line) - len(line.lstrip())]
    text = line.strip()[1:].strip()
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent + "# ",
        subsequent_indent=indent + "# ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]
