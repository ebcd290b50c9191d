"""The verdict on a candidate gradient and how it was reached: `GradientReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GradientReport"]


@dataclass
class GradientReport:
    """The verdict on a candidate gradient (``bool(report)``) and how it was reached."""

    loss: str
    wrt: str
    verdict: bool
    method: str  # "symbolic", "numeric" or "callable"
    detail: str
    points: int = 0
    worst_error: float = 0.0
    counterexample: dict | None = None
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.verdict

    def __str__(self) -> str:
        head = "CORRECT" if self.verdict else "WRONG"
        lines = [f"{head}: candidate ∂{self.loss}/∂{self.wrt} ({self.method}) — {self.detail}"]
        if self.counterexample is not None:
            ce = ", ".join(f"{k}={v!r}" for k, v in self.counterexample.items())
            lines.append(f"  counterexample: {ce}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__
