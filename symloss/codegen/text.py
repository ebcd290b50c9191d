"""User text (a definition's doc, its formula) made safe for generated source: a docstring
body or one comment line that reads back as the same text and can never end early."""

from __future__ import annotations

import unicodedata


def _escaped(ch: str) -> str:
    return ascii(ch)[1:-1]  # \x00, \u2028, \ud800: the character as an escape


def docstring_text(text) -> str:
    """Text as the body of a triple-quoted docstring, read back as the same text: backslashes
    escaped, a quote escaped where it follows a quote or ends the text (no \"\"\" can close
    the string), control, separator and surrogate characters other than newline and tab as
    escapes. User text (a definition's doc, its formula) reaches generated code only so."""
    text, out = str(text), []
    for k, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"' and (k + 1 == len(text) or (k and text[k - 1] == '"')):
            out.append('\\"')
        elif ch in "\n\t" or not _breaks_text(ch):
            out.append(ch)
        else:
            out.append(_escaped(ch))
    return "".join(out)


def comment_text(text) -> str:
    """Text on one comment line: every character that could end the line (or the file's
    encoding) as an escape."""
    return "".join(_escaped(ch) if _breaks_text(ch) else ch for ch in str(text))


def _breaks_text(ch: str) -> bool:
    """A control, surrogate or line/paragraph separator character: it could end a line of
    source, or the file's encoding."""
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")
