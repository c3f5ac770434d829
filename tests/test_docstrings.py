"""Docstring examples run as written."""

import doctest

import pytest

from edge import latency_plot, stream_timing
from keras_airn import artifacts, preprocessor, streaming
from keras_airn.export import common
from keras_airn.training import bad_audio, recipes


@pytest.mark.parametrize("module", [recipes, common, bad_audio, latency_plot, artifacts, preprocessor, streaming,
                                    stream_timing], ids=lambda m: m.__name__)
def test_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, result


def test_the_own_audio_demo_runs_the_readmes_python_quick_start():
    from scripts.own_audio_demo import readme_quick_start, statements

    code = readme_quick_start()
    calls = [s.split("(")[0].split("=")[-1].strip() for s in statements(code)]
    # The whole path of the quick start, in order: read, build, train, evaluate, export, classify.
    assert calls == ["import keras_airn as ka", "ka.read_folder", "ka.AudioClassifier.from_preset", "classifier.fit",
                     "print", "classifier.export", "print"], calls
