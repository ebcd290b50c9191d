"""Moved to `symloss.verify.sequences`; this name re-exports it for one release."""

from .verify.sequences import ctc_reference, edit_reference, soft_edit_reference, verify_sequence

__all__ = ["verify_sequence", "ctc_reference", "soft_edit_reference", "edit_reference"]
