"""Shared fixtures."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator: the tests' random inputs are the same on every run."""
    return np.random.default_rng(1234)
