"""Docstring examples run as written."""

import doctest

import pytest

from keras_airn.export import common
from keras_airn.training import recipes


@pytest.mark.parametrize("module", [recipes, common], ids=lambda m: m.__name__)
def test_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, result
