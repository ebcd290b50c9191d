"""Shared fixtures."""

import numpy as np
import pytest

# The default suite checks every kernel at every curated extreme with this many random values
# of the first input (a fifth as many of the others); the tests marked slow, and
# `symloss verify`, take the full sample (symloss.verify.api.SAMPLES).
QUICK_SAMPLES = 8


@pytest.fixture
def gate_samples():
    """Random samples per input for the gate in the default suite."""
    return QUICK_SAMPLES


@pytest.fixture
def rng():
    """A seeded generator: the tests' random inputs are the same on every run."""
    return np.random.default_rng(1234)
