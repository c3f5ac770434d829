"""Downstream readers on their public layouts, and `python -m train.finetune` end to end."""

import csv
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile

import keras_airn as ka
from keras_airn.data import datasets
from tests.helpers import TINY
from train.demo_data import SYNTH_CLASSES, synth_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = SYNTH_CLASSES[:4]


def _write(path, seconds=1.0, name="tone_low", seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    clip = 0.5 * synth_clip(name, seconds, 16000, np.random.default_rng(seed))
    soundfile.write(path, clip.astype(np.float32), 16000, subtype="PCM_16")


@pytest.fixture(scope="module")
def speech_commands(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc")
    validation, testing = [], []
    for word in CLASSES:
        for i in range(10):
            relative = f"{word}/clip{i}_nohash_0.wav"
            _write(str(root / relative), 1.0, word, seed=i)
            (testing if i < 3 else validation if i == 3 else []).append(relative)
    _write(str(root / "_background_noise_" / "noise.wav"), 2.0, "noise_low")
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    return root


def test_speech_commands_reader(speech_commands):
    train = datasets.read_speechcommands(str(speech_commands), "train")
    test = datasets.read_speechcommands(str(speech_commands), "test")
    validation = datasets.read_speechcommands(str(speech_commands), "validation")
    assert train.label_names == sorted(CLASSES)  # _background_noise_ is not a class
    assert (len(train.examples), len(validation.examples), len(test.examples)) == (24, 4, 12)
    assert not {e.path for e in train.examples} & {e.path for e in test.examples}
    with pytest.raises(datasets.DatasetError, match="split must be"):
        datasets.read_speechcommands(str(speech_commands), "dev")


def test_urbansound8k_nsynth_and_epic_readers(tmp_path):
    us = tmp_path / "us8k"
    rows = []
    for i in range(6):
        name = f"{i}-0-0-0.wav"
        _write(str(us / "audio" / f"fold{i % 3 + 1}" / name), 0.5, seed=i)
        rows.append(dict(slice_file_name=name, fsID=i, start=0, end=0.5, salience=1,
                         fold=i % 3 + 1, classID=i % 2, **{"class": ["dog_bark", "siren"][i % 2]}))
    (us / "metadata").mkdir()
    with open(us / "metadata" / "UrbanSound8K.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    train = datasets.read_urbansound8k(str(us), "train", test_fold=2)
    test = datasets.read_urbansound8k(str(us), "test", test_fold=2)
    assert train.label_names == ["dog_bark", "siren"]
    assert len(train.examples) == 4 and len(test.examples) == 2
    assert all("fold2" in e.path for e in test.examples)

    ns = tmp_path / "nsynth" / "nsynth-test"
    notes = {f"bass_synthetic_00{i}-022-100": {"instrument_family": 0 if i else 2,
                                               "instrument_family_str": "bass" if i else "flute"}
             for i in range(3)}
    os.makedirs(ns / "audio")
    (ns / "examples.json").write_text(json.dumps(notes))
    split = datasets.read_nsynth(str(tmp_path / "nsynth"), "test")
    assert split.label_names[0] == "bass" and split.label_names[2] == "flute"
    assert sorted(e.label for e in split.examples) == [0, 0, 2]

    epic_csv = tmp_path / "epic.csv"
    epic_csv.write_text(
        "annotation_id,participant_id,video_id,start_timestamp,stop_timestamp,start_sample,stop_sample,"
        "description,class,class_id\n"
        "P01_01_0,P01,P01_01,00:00:01.500,00:00:03.000,0,0,tap,click,1\n"
        "P01_01_1,P01,P01_01,00:00:00.000,00:00:00.250,0,0,water,water,0\n"
    )
    epic = datasets.read_epic_sounds(str(epic_csv), str(tmp_path / "audio"), 16000)
    assert epic.label_names == ["water", "click"]
    assert (epic.examples[0].start, epic.examples[0].stop) == (24000, 48000)


@pytest.mark.slow
def test_finetune_cli_freezes_batchnorm_and_trains_a_new_head(tmp_path, speech_commands):
    pretrained = ka.create_model("b0", num_classes=7, **TINY)
    for weight in pretrained.weights:
        if "moving_mean" in weight.path:
            weight.assign(np.random.default_rng(0).normal(size=weight.shape).astype(np.float32))
    init = tmp_path / "pretrained.pyth"
    ka.save_official_checkpoint(pretrained, str(init))
    out = tmp_path / "ft"
    command = [sys.executable, "-m", "train.finetune", "--dataset=speechcommands",
               f"--data_dir={speech_commands}", f"--init={init}", f"--out_dir={out}", "--epochs=2",
               "--batch_size=8", "--precise_bn_batches=2", "--lr=0.01",
               # 256 frames: training this 8-channel test model at 512 frames trips a heap
               # corruption in TF 2.21's oneDNN CPU kernels (not seen with the presets).
               "--clip_seconds=0.511"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, CI="1"))
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.load(open(out / "summary.json"))
    assert summary["metrics"]["examples"] == 12
    model = keras.saving.load_model(str(out / "model_train.keras"))
    assert model.num_classes == len(CLASSES)
    reloaded = ka.load_official_checkpoint(str(init))
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.trainable == (layer.name == "s1_stem_bn"), layer.name
    frozen = model.get_layer("s3_res0_a").branch_bns[1]
    np.testing.assert_array_equal(frozen.moving_mean.numpy(),
                                  reloaded.get_layer("s3_res0_a").branch_bns[1].moving_mean.numpy())
    # The stem conv is on the gradient path (the random pre-trained d_bn gammas are zero, so the
    # bottleneck convs get no gradient): it must have been trained.
    moved = np.abs(model.get_layer("s1_stem_conv").kernel.numpy() - reloaded.get_layer("s1_stem_conv").kernel.numpy())
    assert moved.max() > 1e-4, moved.max()


@pytest.mark.slow
def test_the_demo_trains_through_the_classifier_and_a_second_run_re_evaluates(tmp_path):
    """`make demo`'s command (README), small: `train.vggsound --demo` trains and evaluates; run again,
    it resumes the finished run and evaluates it again without training."""
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "train.vggsound", "--demo", "--demo_clips_per_class=4", f"--out_dir={out}",
               "--epochs=1", "--batch_size=9", "--clip_seconds=0.64", "--precise_bn_batches=1"]
    env = dict(os.environ, CI="1", TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.load(open(out / "summary.json"))
    labels = ka.load_labels(str(out / "labels.json"))
    assert summary["epochs"] == 1 and len(labels) == 9 and summary["metrics"]["examples"] == 9, summary
    trained = re.compile(r"\d+/\d+ - \d+s")  # Keras's line at the end of a training epoch
    assert trained.search(first.stdout), first.stdout[-2000:]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resuming" in again.stderr and not trained.search(again.stdout), again.stdout[-2000:]
    assert json.load(open(out / "summary.json"))["metrics"] == summary["metrics"]
    assert os.listdir(out / "checkpoints") == ["epoch_0001"]
