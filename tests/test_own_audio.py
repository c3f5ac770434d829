"""Your own audio end to end: folder and CSV readers, and `AudioClassifier` from a trained
checkpoint to a waveform-input int8 TFLite model that MediaPipe runs."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.data.arrays import checked_waveform
from keras_airn.data import datasets
from keras_airn.data.datasets import DatasetError
from keras_airn.data.features import FrontEnd
from keras_airn.training.trainer import TrainConfig, fit
from train import demo_data
from train.demo_data import make_demo_set, synth_clip
from tests.helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(clip_seconds=1.28)  # 128 frames
OWN_CLASSES = {k: v for k, v in list(demo_data.OWN_CLASSES.items())[:3]}


def write_clip(stem, sound, index):
    return demo_data.write_own_clip(stem, sound, index)


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory):
    return demo_data.make_own_folder(str(tmp_path_factory.mktemp("own") / "my_sounds"), 12, OWN_CLASSES)


def test_folder_reader_sorts_labels_and_splits_each_class_stably(own_folder, tmp_path):
    splits = datasets.read_folder(own_folder, test_fraction=0.25, seed=1)
    assert list(splits) == ["train", "test"]
    assert splits["train"].label_names == sorted(OWN_CLASSES)
    for label in range(3):
        counts = [sum(e.label == label for e in splits[s].examples) for s in ("train", "test")]
        assert counts == [9, 3], counts
    extensions = {os.path.splitext(e.path)[1] for e in splits["train"].examples + splits["test"].examples}
    assert extensions == {".wav", ".flac", ".ogg"}
    # Another seed, another split; adding files moves at most one old file per class.
    other = datasets.read_folder(own_folder, test_fraction=0.25, seed=2)
    assert {e.path for e in other["test"].examples} != {e.path for e in splits["test"].examples}
    grown = tmp_path / "grown"
    import shutil

    shutil.copytree(own_folder, grown)
    for label, sound in OWN_CLASSES.items():
        write_clip(str(grown / label / "new"), sound, 99)  # a new recording (a copy of one would be refused)
    regrown = datasets.read_folder(str(grown), test_fraction=0.25, seed=1)
    before = {os.path.relpath(e.path, own_folder) for e in splits["test"].examples}
    after = {os.path.relpath(e.path, grown) for e in regrown["test"].examples}
    assert len(before - after) <= 3, before ^ after
    # The split as written reads back identically as a CSV dataset.
    split_csv = tmp_path / "split.csv"
    datasets.write_split_csv(splits, str(split_csv))
    again = datasets.read_csv(str(split_csv))
    for name in ("train", "test"):
        assert again[name].examples == splits[name].examples and again[name].label_names == splits[name].label_names


def test_split_folders_and_csv_layouts(tmp_path):
    take = iter(range(100))  # every clip its own recording: one in two splits is refused
    for split, count in (("train", 3), ("test", 1), ("validation", 1)):
        for label in ("a", "b"):
            for i in range(count):
                write_clip(str(tmp_path / "data" / split / label / f"{i}"), "tone_low", next(take))
    splits = datasets.read_folder(str(tmp_path / "data"))
    assert {name: len(s.examples) for name, s in splits.items()} == {"train": 6, "test": 2, "val": 2}
    rows = [["path", "label"]] + [[os.path.relpath(e.path, tmp_path), ["x", "y"][e.label]]
                                  for e in splits["train"].examples]
    csv_path = tmp_path / "own.csv"
    with open(csv_path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    from_csv = datasets.read_csv(str(csv_path), test_fraction=0.34)
    assert from_csv["train"].label_names == ["x", "y"]
    assert len(from_csv["train"].examples) == 4 and len(from_csv["test"].examples) == 2


@pytest.mark.parametrize("case, message", [
    ("loose", r"1 audio file\(s\) outside a class folder"),
    ("test_only_class", r"class\(es\) with no training files: \['c'\]"),
    ("no_audio", "no audio files"),
    ("csv_header", "expected the header `path,label`"),
    ("csv_missing", r"1 file\(s\) in .*own.csv not found:\n  .*own.csv:3: gone.wav"),
    ("csv_twice", r"own.csv:3: a/0.wav is listed twice \(also line 2\)"),
    ("csv_split", r"own.csv:2: unknown split 'dev'"),
    ("csv_label", r"own.csv:2: empty label"),
    ("unknown_label", r"label\(s\) not in the label map: \['b'\]"),
    ("empty_class", r"class folder\(s\) without audio files .*: \['c'\]; files of other types here: \['.m4a'\]"),
    ("single_class", r"one class only \(\['a'\]\): a classifier needs at least two"),
])
def test_bad_datasets_are_named(tmp_path, case, message):
    data = tmp_path / "data"
    for label in ("a", "b"):
        for i in range(2):
            write_clip(str(data / label / f"{i}"), "tone_low", 0)  # format 0: .wav
    csv_rows = {"csv_header": "file,class\na/0.wav,a\n", "csv_missing": "path,label\na/0.wav,a\ngone.wav,a\n",
                "csv_twice": "path,label\na/0.wav,a\na/0.wav,b\n", "csv_split": "path,label,split\na/0.wav,a,dev\n",
                "csv_label": "path,label\na/0.wav, \n"}
    if case in csv_rows:
        (data / "own.csv").write_text(csv_rows[case])
        call = lambda: datasets.read_csv(str(data / "own.csv"))  # noqa: E731
    else:
        if case == "loose":
            write_clip(str(data / "stray"), "tone_low", 1)
        if case == "test_only_class":
            for split, label in (("train", "a"), ("test", "c")):
                write_clip(str(tmp_path / "split" / split / label / "0"), "tone_low", 1)
            data = tmp_path / "split"
        if case == "empty_class":
            (data / "c").mkdir()
            (data / "c" / "take.m4a").write_bytes(b"not read")
        if case == "single_class":
            import shutil

            shutil.rmtree(data / "b")
        if case == "no_audio":
            data = tmp_path / "text"
            (data / "a").mkdir(parents=True)
            (data / "a" / "notes.txt").write_text("not audio")
        names = ["a"] if case == "unknown_label" else None
        call = lambda: datasets.read_folder(str(data), label_names=names)  # noqa: E731
    with pytest.raises(DatasetError, match=message):
        call()


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """A small trained checkpoint: a tiny network trained on the synthetic demo classes."""
    root = tmp_path_factory.mktemp("pretrained")
    csv_path, audio_dir, labels = make_demo_set(str(root / "data"), clips_per_class=8, seconds=1.5,
                                                seed=7, speech=False)
    train, _ = datasets.read_vggsound(csv_path, audio_dir, "train", labels)
    # SpecAugment as its paper describes it: the release's warp moves frames far, which slows
    # these few-epoch runs; what they test is the API around training.
    config = TrainConfig(epochs=6, batch_size=8, learning_rate=0.05, lr_steps=(5,), precise_bn_batches=4,
                         spec_augment_style="clean")
    fit(lambda: ka.create_model("b0", num_classes=len(labels), dropout=0.1, num_frames=None, **TINY),
        train, None, FRONT_END, config, str(root / "run"))
    return str(root / "run")


@pytest.mark.slow
def test_audio_classifier_end_to_end_on_own_audio(pretrained_run, own_folder, tmp_path):
    from mediapipe.tasks.python import audio
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core import base_options

    splits = ka.read_folder(own_folder, test_fraction=0.25, seed=0)
    labels = splits["train"].label_names
    classifier = ka.AudioClassifier.from_preset(pretrained_run, labels=labels)
    assert classifier.front_end == FRONT_END and classifier.network.num_classes == 3
    assert classifier.network.freeze_batchnorm  # the release's fine-tuning set-up
    history = classifier.fit(splits["train"], validation_data=splits["test"], out_dir=str(tmp_path / "run"),
                             recipe="release", epochs=10, batch_size=9, learning_rate=0.02, lr_steps=(8,),
                             precise_bn_batches=3, spec_augment_style="clean")
    summary = history.summary
    assert len(history.history["loss"]) == 10 and history.history["val_top1"] == [summary["metrics"]["top1"]]
    chance = 1 / 3
    assert summary["metrics"]["top1"] >= 2 * chance, summary["metrics"]
    metrics = classifier.evaluate(splits["test"], return_dict=True)
    assert metrics["top1"] == pytest.approx(summary["metrics"]["top1"])

    # One folder carries everything; the int8 waveform model runs in MediaPipe with our labels.
    preset = classifier.save_to_preset(str(tmp_path / "preset"))
    reloaded = ka.AudioClassifier.from_preset(preset)
    assert reloaded.labels == labels and reloaded.front_end == FRONT_END
    waves = [ka.read_audio(e.path, 16000) for e in splits["test"].examples]
    np.testing.assert_allclose(reloaded.predict(waves), classifier.predict(waves), atol=1e-6)
    np.testing.assert_allclose(classifier.reparameterize().predict(waves), classifier.predict(waves), atol=1e-4)

    report = reloaded.export(str(tmp_path / "export"), precision="int8", waveform_input=True,
                             calibration=splits["train"], evaluation=splits["test"])
    entry = report["artifacts"]["int8"]
    assert entry["metadata"].startswith("attached") and entry["top1_agreement"] >= 0.75, entry
    model_path = str(tmp_path / "export" / entry["file"])
    from keras_airn.export.metadata import read_audio_classifier_metadata

    metadata = read_audio_classifier_metadata(open(model_path, "rb").read())
    assert metadata["sample_rate"] == 16000 and metadata["labels"] == labels
    options = audio.AudioClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=model_path),
                                           running_mode=audio.RunningMode.AUDIO_CLIPS, max_results=1)
    truth = [labels[e.label] for e in splits["test"].examples]
    with audio.AudioClassifier.create_from_options(options) as mediapipe_classifier:
        mediapipe = [mediapipe_classifier.classify(audio_data.AudioData.create_from_array(wave, 16000))[0]
                     .classifications[0].categories[0].category_name for wave in waves]
    files = [reloaded.classify_file(e.path, top_k=2)["overall"][0][0] for e in splits["test"].examples]
    assert set(mediapipe) <= set(labels) and set(files) <= set(labels)
    assert np.mean(np.array(mediapipe) == truth) >= 2 * chance, list(zip(mediapipe, truth))
    assert np.mean(np.array(files) == truth) >= 2 * chance, list(zip(files, truth))


@pytest.mark.slow
def test_finetune_cli_on_a_folder_writes_its_split(pretrained_run, own_folder, tmp_path):
    out = tmp_path / "ft"
    command = [sys.executable, "-m", "train.finetune", "--dataset=folder", f"--data_dir={own_folder}",
               f"--init={pretrained_run}", f"--out_dir={out}", "--epochs=1", "--batch_size=9",
               "--precise_bn_batches=1", "--test_fraction=0.25", "--seed=4"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, CI="1"))
    assert result.returncode == 0, result.stderr[-4000:]
    split = ka.read_csv(str(out / "split.csv"))
    expected = ka.read_folder(own_folder, test_fraction=0.25, seed=4)
    assert split["test"].examples == expected["test"].examples
    assert ka.load_labels(str(out / "labels.json")) == sorted(OWN_CLASSES)
    assert json.load(open(out / "summary.json"))["metrics"]["examples"] == 9
    classifier = ka.AudioClassifier.from_preset(str(out))
    assert classifier.labels == sorted(OWN_CLASSES) and classifier.front_end == FRONT_END


def test_classifier_round_trips_and_refuses_labels_it_does_not_have(tmp_path):
    preset = ka.AudioClassifier.from_preset("b0", labels=["low", "high"], front_end=FRONT_END)
    assert preset.network.num_classes == 2 and preset.network.stem_width == 32
    narrow = FrontEnd(sample_rate=8000, n_mels=64, n_fft=1024, clip_seconds=0.5)  # e.g. telephone-rate audio
    assert ka.AudioClassifier.from_preset("b0", labels=["low", "high"], front_end=narrow).network.num_mel_bins == 64
    network = ka.create_model("b0", num_classes=2, num_frames=None, **TINY)
    classifier = ka.AudioClassifier(network, FRONT_END, ["low", "high"])
    rng = np.random.default_rng(0)
    waves = [0.5 * synth_clip(name, 1.4, 16000, rng).astype(np.float32) for name in ["tone_low", "tone_high"] * 4]
    # Training from arrays: tests/test_task_keras.py.
    path = str(tmp_path / "whole.keras")
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, ka.AudioClassifier) and loaded.labels == ["low", "high"]
    np.testing.assert_allclose(loaded.predict(waves[:2]), classifier.predict(waves[:2]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown label 'loud'"):
        classifier.fit((waves[:1], ["loud"]), out_dir=str(tmp_path / "bad"))
    with pytest.raises(ka.task.PresetError, match="labels .* differ from the classifier's"):
        classifier.fit(ka.Split([], ["a", "b"]), out_dir=str(tmp_path / "bad2"))


def test_csv_from_excel_reads_and_other_encodings_are_named(tmp_path):
    write_clip(str(tmp_path / "a" / "café"), "tone_low", 0)
    write_clip(str(tmp_path / "b" / "0"), "tone_high", 0)
    rows = "path,label\na/café.wav,a\nb/0.wav,b\n"
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode("utf-8"))  # Excel's "CSV UTF-8": a BOM
    splits = datasets.read_csv(str(tmp_path / "excel.csv"), test_fraction=0.0)
    assert [os.path.basename(e.path) for e in splits["train"].examples] == ["café.wav", "0.wav"]
    (tmp_path / "latin1.csv").write_bytes(rows.encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1.csv:2: not UTF-8 text \(byte 0xe9\)"):
        datasets.read_csv(str(tmp_path / "latin1.csv"))


def test_predict_scales_integer_pcm_and_refuses_channels_as_clips():
    classifier = ka.AudioClassifier(ka.create_model("b0", num_classes=2, num_frames=None, **TINY), FRONT_END,
                                    ["low", "high"])
    wave = 0.5 * synth_clip("tone_low", 1.4, 16000, np.random.default_rng(0)).astype(np.float32)
    pcm16 = np.round(wave * 32768).astype(np.int16)
    pcm8 = np.round(wave * 128 + 128).astype(np.uint8)
    for pcm, step in ((pcm16, 2.0**-15), (pcm8, 2.0**-7)):  # what soundfile returns for such a file
        np.testing.assert_allclose(checked_waveform(pcm, "pcm", classifier.front_end), wave, atol=step)
    np.testing.assert_allclose(classifier.predict([pcm16]), classifier.predict([pcm16 / 32768.0]), atol=1e-6)
    stereo = np.stack([wave, wave], axis=1)  # (samples, 2): not 22400 two-sample clips
    with pytest.raises(ValueError, match=r"waveform 0: 2 samples, shorter than one analysis window .* "
                                         r"x.mean\(axis=1\)"):
        classifier.predict(stereo)
    with pytest.raises(ValueError, match="views must be a whole number of at least 1"):
        classifier.predict([wave], views=-1)


def test_symlinked_folders_are_read(tmp_path):
    for n, label in enumerate(("a", "b")):
        for i in range(2):
            write_clip(str(tmp_path / "elsewhere" / label / f"{i}"), "tone_low", 4 * (2 * n + i))  # 4 recordings
        (tmp_path / "data" / label).mkdir(parents=True)
        os.symlink(tmp_path / "elsewhere" / label, tmp_path / "data" / label / "takes")
    os.symlink(tmp_path / "data", tmp_path / "data" / "a" / "loop")  # a cycle is walked once
    splits = datasets.read_folder(str(tmp_path / "data"), test_fraction=0.0)
    assert len(splits["train"].examples) == 4
