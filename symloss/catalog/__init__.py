"""The built-in losses, one module per family, each defined through `symloss.define`."""

from . import classes, elementwise, embeddings

BUILTINS = {loss.name: loss for loss in (*elementwise.LOSSES, *classes.LOSSES, *embeddings.LOSSES)}

__all__ = ["BUILTINS"]
