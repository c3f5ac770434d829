"""`AudioClassifier` keeps Keras's contracts: fit/evaluate/predict signatures, callbacks that see
the classifier, a History, compile() honoured, the preprocessor in the prediction pipeline."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_airn as ka
from keras_airn.errors import KerasAirnError
from keras_airn.data.features import FrontEnd, clip_features, crop_starts
from keras_airn.inference.runtime import softmax
from tests.helpers import TINY
from train.demo_data import synth_clip

FRONT_END = FrontEnd(clip_seconds=1.28)
LABELS = ["low", "high"] * 4


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    return [0.5 * synth_clip(n, 1.4, 16000, rng).astype(np.float32) for n in ["tone_low", "tone_high"] * 4]


def new_classifier():
    keras.utils.set_random_seed(1)
    return ka.AudioClassifier(ka.create_model("b0", num_classes=2, num_frames=None, **TINY), FRONT_END, ["low", "high"])


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("begin", self.model))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("end", None))


def test_fit_returns_a_history_runs_the_users_callbacks_and_stops_early(waves, tmp_path, capfd):
    classifier = new_classifier()
    capfd.readouterr()
    before = [w.numpy().copy() for w in classifier.network.trainable_weights]
    recorder = Recorder()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=100.0)  # no epoch improves by 100
    history = classifier.fit(waves, LABELS, batch_size=4, epochs=5, callbacks=[recorder, stop], verbose=0,
                             validation_data=(waves, LABELS), validation_freq=1, precise_bn_batches=1,
                             out_dir=str(tmp_path / "run"))
    printed = "".join(capfd.readouterr())
    for bar in ("checking audio", "Epoch 1/", "precise BN", "evaluating"):  # verbose=0: no progress bars
        assert bar not in printed, (bar, printed)
    assert isinstance(history, keras.callbacks.History) and classifier.history is history
    assert history.epoch == [0, 1] and history.summary["epochs"] == 2  # stopped after epoch 2 of 5
    assert recorder.events[0] == ("begin", classifier) and recorder.events[-1] == ("end", None)
    assert [event[0] for event in recorder.events[1:-1]] == [0, 1]
    assert all({"loss", "accuracy", "val_loss", "val_top1"} <= set(logs) for _, logs in recorder.events[1:-1])
    assert all(len(values) == 2 for values in history.history.values()), history.history
    assert (tmp_path / "run" / "summary.json").exists() and (tmp_path / "run" / "model_train.keras").exists()
    assert len(list((tmp_path / "run" / "data" / "train").iterdir())) == 8  # the arrays, as WAV files
    # The last epoch's validation is the run's final evaluation, which evaluate() repeats.
    final = classifier.evaluate(waves, LABELS, return_dict=True, verbose=0)
    assert history.history["val_top1"][-1] == pytest.approx(final["top1"])
    assert history.history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-5)
    assert classifier.evaluate(waves, LABELS, verbose=0) == pytest.approx(list(final.values()))
    # The recipe's optimizer (no compile(): "auto") moved the weights.
    assert any(np.abs(old - new.numpy()).max() > 0 for old, new in zip(before, classifier.network.trainable_weights))


def test_compile_is_honoured(waves, tmp_path, capfd):
    classifier = new_classifier()
    capfd.readouterr()
    before = [w.numpy().copy() for w in classifier.network.trainable_weights]
    classifier.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
                       metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="top_1")])
    history = classifier.fit(waves, LABELS, epochs=1, batch_size=4, verbose=2, precise_bn_batches=0,
                             out_dir=str(tmp_path / "frozen"))
    printed = "".join(capfd.readouterr())
    assert "2/2 - " in printed and "━" not in printed  # verbose=2, as Keras's: a line an epoch, no bar
    for bar in ("checking audio", "evaluating"):
        assert bar not in printed, (bar, printed)
    assert {"loss", "accuracy", "top_1"} <= set(history.history)
    for old, new in zip(before, classifier.network.trainable_weights):
        np.testing.assert_array_equal(old, new.numpy())  # learning rate 0: nothing moved
    # evaluate: the compiled loss and metrics on log(mean probabilities of the views).
    metrics = classifier.evaluate(waves, LABELS, return_dict=True, verbose=0)
    probabilities = classifier.predict(waves, verbose=0)
    labels = np.array([0, 1] * 4)
    expected = float(np.sum(-np.log(probabilities[np.arange(8), labels])))  # "sum", not the recipe's mean
    assert metrics["loss"] == pytest.approx(expected, rel=1e-4)
    assert metrics["top_1"] == metrics["accuracy"] == metrics["top1"]
    classifier.compile()  # back to the recipe's
    assert classifier._compiled == {}


def test_predict_runs_the_preprocessor_and_takes_datasets(waves):
    classifier = new_classifier()
    probabilities = classifier.predict(waves, verbose=0)
    # What the release computes: log-mel of each evenly spaced crop, softmax averaged.
    crops = [clip_features(w, int(s), FRONT_END).numpy() for w in waves for s in crop_starts(len(w), FRONT_END, 2)]
    logits = classifier.network(np.stack(crops)[..., None], training=False).numpy()
    expected = softmax(logits).reshape(8, 2, 2).mean(axis=1)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    batched = tf.data.Dataset.from_tensor_slices((np.stack(waves), np.array([0, 1] * 4))).batch(3)
    np.testing.assert_allclose(classifier.predict(batched, batch_size=5, verbose=0), probabilities, atol=1e-6)
    assert classifier.preprocessor(waves[0]).shape == (2, FRONT_END.num_frames, FRONT_END.n_mels, 1)
    assert classifier.predict(waves[:2], views=1, verbose=0).shape == (2, 2)


def test_keras_arguments_without_meaning_here_are_refused(waves, tmp_path):
    classifier = new_classifier()
    with pytest.raises(TypeError, match="validation_split"):
        classifier.fit(waves, LABELS, validation_split=0.2, out_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match="infinite"):
        classifier.fit(tf.data.Dataset.from_tensor_slices((np.stack(waves), [0, 1] * 4)).repeat(),
                       out_dir=str(tmp_path / "b"))
    with pytest.raises(TypeError, match="steps and callbacks"):
        classifier.evaluate(waves, LABELS, steps=2)
    with pytest.raises(TypeError, match="takes optimizer, loss and metrics"):
        classifier.compile(run_eagerly=True)
    with pytest.raises(TypeError, match="validation_data="):  # the old positional validation data
        classifier.fit((waves, LABELS), (waves, LABELS), out_dir=str(tmp_path / "d"))
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        classifier.predict(waves, batch_size=0)
    with pytest.raises(ValueError, match="1 NaN or infinite samples"):
        classifier.predict([np.where(np.arange(16000) == 5, np.nan, 0.1).astype(np.float32)])
    with pytest.raises(TypeError, match="use classify_file"):
        classifier.predict("a.wav")
    with pytest.raises(ValueError, match="cannot take integer labels and logits"):
        classifier.compile(loss="mse")
    with pytest.raises(ValueError, match="validation_freq"):
        classifier.fit(waves, LABELS, validation_freq=0, out_dir=str(tmp_path / "c"))


def test_select_best_keeps_the_epoch_with_the_best_validation_top1(waves, tmp_path):
    classifier = new_classifier()
    history = classifier.fit(waves, LABELS, batch_size=4, epochs=4, verbose=0, validation_data=(waves, LABELS),
                             select_best=True, eval_period=1, precise_bn_batches=0, learning_rate=0.05,
                             out_dir=str(tmp_path / "run"))
    scores = history.history["selection_top1"]
    assert len(scores) == 4  # validated after every epoch (eval_period=1)
    summary = history.summary
    assert summary["selected_epoch"] == 1 + int(np.argmax(scores)) and summary["selection_top1"] == max(scores)
    best = new_classifier().network
    best.load_weights(str(tmp_path / "run" / "checkpoints" / "best.weights.h5"))
    for kept, trained in zip(best.weights, classifier.network.weights):
        np.testing.assert_array_equal(kept.numpy(), trained.numpy())
    with pytest.raises(KerasAirnError, match="validation"):
        new_classifier().fit(waves, LABELS, batch_size=4, epochs=1, verbose=0, select_best=True,
                             out_dir=str(tmp_path / "no_validation"))
