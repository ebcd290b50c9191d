"""Shared fixtures: the catalogue's definitions and kernels."""

import numpy as np
import pytest

import symloss
from symloss.catalog import BUILTINS

ELEMENTWISE = sorted(n for n, s in BUILTINS.items() if s.family == "elementwise")
NORMS = sorted(n for n, s in BUILTINS.items() if s.family == "norm")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def kernel(name):
    return symloss.loss(name)
