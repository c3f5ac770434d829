"""Docstring examples run as written."""

import doctest
import os

import numpy as np
import pytest

from edge import latency_plot, stream_timing
from keras_airn import _moved, task
from keras_airn.data import audio, datasets, features, preprocessor
from keras_airn.inference import artifacts, personalise, runtime, streaming
from keras_airn.network import baselines, checkpoint, deploy, factory, layers, model
from keras_airn.export import common, metadata, replay
from keras_airn.training import bad_audio, optimizer, recipes, run, run_state, spec_augment, wave_augment

SELF_CONTAINED = [_moved, recipes, common, metadata, replay, bad_audio, latency_plot, artifacts, preprocessor, streaming, stream_timing,
                  features, baselines, factory, layers, model, deploy, optimizer, spec_augment, wave_augment, run_state,
                  run]
# Examples that name a user's files: run in a folder holding files of those names, made here.
WITH_FILES = [audio, datasets, checkpoint, runtime, task, personalise]


def test_every_module_with_examples_is_run():
    """A new example in a module not listed here would never run: the lists must cover them all."""
    import glob

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with_examples = set()
    for package in ("keras_airn", "edge", "train", "convert"):
        for path in glob.glob(os.path.join(root, package, "**", "*.py"), recursive=True):
            if ">>> " in open(path).read():
                with_examples.add(os.path.relpath(path, root))
    listed = {os.path.relpath(m.__file__, root) for m in SELF_CONTAINED + WITH_FILES}
    assert with_examples - listed == set(), with_examples - listed


@pytest.mark.parametrize("module", SELF_CONTAINED, ids=lambda m: m.__name__)
def test_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, result


@pytest.fixture(scope="module")
def example_files(tmp_path_factory):
    """The files the examples name: audio at other rates and channels, a folder of three classes,
    a tiny classifier as runs/demo, its int8 waveform and fp32 trainable exports and an
    official-format checkpoint."""
    import soundfile

    import keras_airn as ka
    from tests.helpers import TINY

    root = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)

    def tone(path, rate, seconds, channels, hz):
        t = np.arange(int(rate * seconds)) / rate
        wave = 0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * rng.standard_normal(t.size)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        soundfile.write(path, np.stack([wave] * channels, 1) if channels > 1 else wave, rate)

    tone(root / "dog_bark_44k_stereo.flac", 44100, 1.0, 2, 500)
    tone(root / "street.flac", 16000, 3.0, 1, 300)
    tone(root / "doorbell_48k_stereo.wav", 48000, 1.5, 2, 900)
    labels = ["bark", "doorbell", "speech"]
    for label, hz in zip(labels, (400, 1200, 2500)):
        for index in range(6):
            tone(str(root / "my_sounds" / label / f"{index}.wav"), 16000, 1.0, 1, hz * (1 + 0.02 * index))
    network = ka.create_model("b0", num_classes=3, **TINY)
    classifier = ka.AudioClassifier(network, front_end=ka.FrontEnd(clip_seconds=1.0), labels=labels)
    classifier.save_to_preset(str(root / "runs" / "demo"))
    classifier.export(str(root / "export"), precision="int8", waveform_input=True, random_calibration=True)
    classifier.export(str(root / "export"), precision="fp32", waveform_input=True, trainable=True)
    ka.save_official_checkpoint(network, str(root / "AudioRepInceptionNeXt_VGGSound.pyth"))
    return root


@pytest.mark.parametrize("module", WITH_FILES, ids=lambda m: m.__name__)
def test_examples_with_files_run(module, example_files, monkeypatch):
    monkeypatch.chdir(example_files)
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0, result


def test_the_own_audio_demo_runs_the_readmes_python_quick_start():
    from scripts.own_audio_demo import readme_quick_start, statements

    code = readme_quick_start()
    calls = [s.split("(")[0].split("=")[-1].strip() for s in statements(code)]
    # The whole path of the quick start, in order: read, build, train, evaluate, export, classify.
    assert calls == ["import keras_airn as ka", "ka.read_folder", "ka.AudioClassifier.from_preset", "classifier.fit",
                     "print", "classifier.export", "print"], calls
