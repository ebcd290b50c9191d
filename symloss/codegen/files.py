"""generated/ on disk: which files are stale, and writing them (removing what no definition
produces any more)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..locations import generated_dir


def _existing(out: Path, files: Mapping[str, str]) -> set[str]:
    """The .py files under out in the folders that files writes to (and out itself)."""
    folders = {Path(rel).parent for rel in files} | {Path(".")}
    found = [p for f in folders for p in (out / f).glob("*.py")]
    return {p.relative_to(out).as_posix() for p in found}


def stale(files: Mapping[str, str], out: Path | None = None) -> list[str]:
    """Paths under ``out`` that differ from ``files``, are missing, or should not exist."""
    out = out or generated_dir()
    bad = []
    for rel, text in files.items():
        path = out / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            bad.append(rel)
    bad += sorted(_existing(out, files) - set(files))
    return sorted(bad)


def write(files: Mapping[str, str], out: Path | None = None) -> list[str]:
    """Write ``files`` under ``out``, remove kernel files no definition produces; return changes."""
    out = out or generated_dir()
    changed = stale(files, out)
    for rel in changed:
        path = out / rel
        if rel in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel], encoding="utf-8")
        else:
            path.unlink()
    return changed
