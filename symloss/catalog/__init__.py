"""The built-in losses, one module per family, each defined through `symloss.define` (or, for
the sequence losses, `symloss.definition.recurrence.define_recurrence`)."""

from . import classes, elementwise, embeddings, peers, sequences

BUILTINS = {
    loss.name: loss
    for loss in (*elementwise.LOSSES, *peers.LOSSES, *classes.LOSSES, *embeddings.LOSSES)
}
SEQUENCES = {rec.name: rec for rec in sequences.RECURRENCES}
ALL = (*BUILTINS.values(), *SEQUENCES.values())  # everything the generator renders

__all__ = ["BUILTINS", "SEQUENCES", "ALL"]
