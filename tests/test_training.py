"""Training on generated audio: learns, re-parameterises, resumes exactly, reports bad input."""

import json

import keras
import numpy as np
import pytest
import soundfile

import keras_airn as ka
from keras_airn.data.features import FrontEnd
from keras_airn.data.datasets import DatasetError, check_examples, read_vggsound
from keras_airn.data.labels import load_labels
from train.demo_data import make_demo_set
from keras_airn.training.trainer import TrainConfig, fit
from tests.helpers import TINY

FRONT_END = FrontEnd(clip_seconds=1.28)  # 128 frames: small enough for CI


def tiny_model(num_classes, **overrides):
    return ka.create_model("b0", num_classes=num_classes, **{**TINY, **overrides})


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("demo"))
    csv_path, audio_dir, labels = make_demo_set(root, clips_per_class=16, seconds=2.0, seed=1)
    train, missing = read_vggsound(csv_path, audio_dir, "train")
    test, _ = read_vggsound(csv_path, audio_dir, "test", train.label_names)
    assert not missing and train.label_names == labels
    return csv_path, audio_dir, train, test


@pytest.mark.slow
def test_training_beats_chance_and_deploy_model_agrees(tmp_path, demo_set):
    _, _, train, test = demo_set
    config = TrainConfig(epochs=14, batch_size=16, learning_rate=0.05, lr_steps=(10,),
                         precise_bn_batches=8, precise_bn_each_epoch=False, seed=0)  # each epoch: test_precise_bn
    result = fit(lambda: tiny_model(train.num_classes, dropout=0.2), train, test, FRONT_END, config,
                  str(tmp_path / "run"))
    summary = result.summary
    chance = 1.0 / train.num_classes
    assert summary["metrics"]["top1"] >= max(0.5, 3 * chance), summary["metrics"]
    assert summary["metrics"]["examples"] == len(test.examples)
    assert 0.5 < summary["metrics"]["AUC"] <= 1.0

    trained = keras.saving.load_model(summary["paths"]["train_model"])
    deploy = ka.load_deploy(summary["paths"]["deploy_model"])
    assert deploy.form == "folded_identity"
    from keras_airn.training.pipeline import eval_dataset

    features = np.concatenate([x.numpy() for x, _, _ in eval_dataset(test.examples, FRONT_END, batch_size=16)])
    train_logits = trained.predict(features, verbose=0)
    deploy_logits = deploy.predict(features, verbose=0)
    np.testing.assert_array_equal(train_logits.argmax(1), deploy_logits.argmax(1))
    assert np.abs(train_logits - deploy_logits).max() <= 1e-4 * np.abs(train_logits).max()
    assert load_labels(str(tmp_path / "run" / "labels.json")) == train.label_names
    assert json.load(open(tmp_path / "run" / "front_end.json"))["num_frames"] == 128


def test_bad_dataset_input_is_reported(tmp_path, demo_set):
    csv_path, audio_dir, train, _ = demo_set
    rows = open(csv_path).read().splitlines()

    bad_split = tmp_path / "split.csv"
    bad_split.write_text("\n".join(rows[:3] + [rows[3].rsplit(",", 1)[0] + ",validation"]) + "\n")
    with pytest.raises(DatasetError, match=r"split.csv:4: unknown split 'validation'"):
        read_vggsound(str(bad_split), audio_dir, "train")

    with pytest.raises(DatasetError, match=r"label\(s\) not in the label map"):
        read_vggsound(csv_path, audio_dir, "train", label_names=train.label_names[:-1])

    missing = tmp_path / "missing.csv"
    missing.write_text("\n".join(rows + ["nosuchvideo,12,tone low,train"]) + "\n")
    split, absent = read_vggsound(str(missing), audio_dir, "train")
    assert absent == ["nosuchvideo_000012"] and len(split.examples) == len(train.examples)

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(DatasetError, match="No audio for the 'train' split"):
        read_vggsound(csv_path, str(empty_dir), "train")

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    wrong_rate = tmp_path / "rate.wav"
    soundfile.write(str(wrong_rate), np.zeros(8000, np.float32), 8000)
    empty = tmp_path / "empty.flac"
    soundfile.write(str(empty), np.zeros(0, np.float32), 16000)
    examples = train.examples[:2] + [type(train.examples[0])(str(p), 0) for p in (corrupt, wrong_rate, empty)]
    report = tmp_path / "bad.txt"
    kept = check_examples(examples, 16000, "skip", str(report), resample_audio=False)
    assert kept == train.examples[:2]
    assert check_examples(examples, 16000, "skip") == train.examples[:2] + examples[3:4]  # resampled
    text = report.read_text()
    assert "corrupt.wav: corrupt or unreadable" in text
    assert "rate.wav: sample rate 8000 Hz, expected 16000 Hz" in text
    assert "empty.flac" in text
    with pytest.raises(DatasetError, match="3 unusable audio file"):
        check_examples(examples, 16000, "fail", resample_audio=False)
    with pytest.raises(DatasetError, match="2 unusable audio file"):  # the 8 kHz file is resampled
        check_examples(examples, 16000, "fail")


def test_the_training_step_is_traced_once_in_a_run_and_in_its_resume(tmp_path, demo_set, monkeypatch):
    """A variable made while `fit` traces its step (an unbuilt optimizer or metric) makes
    TensorFlow trace the step a second time: tens of seconds on B0, every run."""
    from keras_airn.training import trainer

    _, _, train, _ = demo_set
    config = TrainConfig(epochs=2, batch_size=16, learning_rate=0.05, lr_steps=(), precise_bn_batches=0, seed=0)
    traces = []

    def counted(model):
        step = model.train_step

        def train_step(data):  # the Python body runs once per trace
            traces.append(model.name)
            return step(data)

        model.train_step = train_step
        return model

    out = str(tmp_path / "run")
    fit(lambda: counted(tiny_model(train.num_classes)), train, None, FRONT_END, config, out, stop_after_epoch=1)
    assert len(traces) == 1, traces
    resume_state = trainer.resume_state

    def resumed_and_counted(*args):  # the resumed run trains the model read from the checkpoint
        model, epoch = resume_state(*args)
        return counted(model), epoch

    monkeypatch.setattr(trainer, "resume_state", resumed_and_counted)
    fit(lambda: tiny_model(train.num_classes), train, None, FRONT_END, config, out, resume=True)
    assert len(traces) == 2, traces
    # A user's compiled metrics, by name: "acc" and a function Keras wraps.
    monkeypatch.undo()
    compiled = {"metrics": ["acc", "sparse_top_k_categorical_accuracy"]}
    history = fit(lambda: counted(tiny_model(train.num_classes)), train, None, FRONT_END, config,
                  str(tmp_path / "compiled"), stop_after_epoch=1, compiled=compiled).model.history.history
    assert len(traces) == 3 and {"acc", "sparse_top_k_categorical_accuracy"} <= set(history), (traces, history)
