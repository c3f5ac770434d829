"""`AudioClassifier`: one object from waveform to device model.

It holds a registered network (`keras_airn.network.registry`), the log-mel front-end it was
trained with and the label names, and carries them together through training, evaluation,
re-parameterisation, saving and export: keras-hub's Task pattern (a backbone with its
preprocessor, `from_preset`, `save_to_preset`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_airn import files
from keras_airn.data.arrays import as_split, checked_waveform, dataset_waveforms
from keras_airn.data.datasets import Split
from keras_airn.data.features import FRONT_END_FILE, FrontEnd
from keras_airn.data.labels import LABELS_FILE, load_labels, placeholder_labels, save_labels, validate_labels
from keras_airn.data.preprocessor import AudioPreprocessor
from keras_airn.errors import KerasAirnError, PresetError, check_count
from keras_airn.export.common import CALIBRATION_CLIPS, EVAL_CLIPS
from keras_airn.network.factory import finetune_network
from keras_airn.network.loading import PRESET_FILE, network_shape
from keras_airn.network.model import VGGSOUND_CLASSES
from keras_airn.training.distributed import is_chief
from keras_airn.training.recipes import fit_config

__all__ = ["AudioClassifier", "PresetError", "finetune_network", "placeholder_labels"]


@keras.saving.register_keras_serializable(package="keras_airn")
class AudioClassifier(keras.Model):
    """An audio classifier: AudioRepInceptionNeXt (or a baseline) with its front-end and label names.

    Calling it maps log-mel features `(batch, T, n_mels, 1)` to logits; `predict`,
    `classify_file`, `fit` and `evaluate` take audio (waveforms, files, datasets) and apply the
    front-end themselves (`preprocessor`: waveform to the log-mel of its crops). `fit`,
    `evaluate`, `predict` and `compile` keep Keras's signatures. `.keras` serialisation round-trips it.

    Args:
        network: an `AudioRepInceptionNeXt`, a `keras_airn.network.baselines` network (any model from
            log-mel (batch, T, F, 1) to logits), or its serialised config.
        front_end: the `FrontEnd` (or its config) the network is trained with; VGG-Sound's by
            default.
        labels: class names, index = output; `class_<i>` by default.

    Example:
    >>> import keras_airn
    >>> splits = keras_airn.read_folder("my_sounds")          # my_sounds/<label>/*.wav|flac|ogg
    >>> classifier = AudioClassifier.from_preset(
    ...     "runs/demo", labels=splits["train"].label_names)   # new head, fine-tuning set-up
    >>> history = classifier.fit(splits["train"], epochs=2, out_dir="runs/mine")  # doctest: +ELLIPSIS
    Epoch 1/2
    ...
    >>> top1 = classifier.evaluate(splits["test"], return_dict=True)["top1"]
    >>> report = classifier.export("export", precision="int8", waveform_input=True,
    ...                            calibration=splits["train"], evaluation=splits["test"])
    >>> overall = classifier.classify_file("doorbell_48k_stereo.wav")["overall"]
    """

    def __init__(self, network, front_end=None, labels: Sequence[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        shape = network_shape(network)
        if shape is None:
            raise PresetError(f"network must be an AudioRepInceptionNeXt or a model from log-mel (batch, T, F, 1) "
                              f"to logits (batch, classes), e.g. keras_airn.network.baselines; got {type(network).__name__}.")
        frames, bins, classes = shape
        if isinstance(front_end, dict):
            front_end = FrontEnd.from_config(front_end)
        self.front_end = front_end or FrontEnd()
        if bins != self.front_end.n_mels or frames not in (None, self.front_end.num_frames):
            raise PresetError(f"The network takes {frames or 'any number of'} frames x {bins} mel bins; the "
                              f"front-end makes {self.front_end.num_frames} x {self.front_end.n_mels}.")
        labels = validate_labels(labels, "labels") if labels is not None else placeholder_labels(classes)
        if len(labels) != classes:
            raise PresetError(f"{len(labels)} labels for a network with {classes} outputs.")
        self.network = network
        self.labels = labels
        self.preprocessor = AudioPreprocessor(self.front_end, name="preprocessor")
        self.optimizer = None  # `compile`'s, then the one `fit` trained with
        self.built = True  # every weight lives in the (built) network

    def call(self, log_mel, training=False):
        return self.network(log_mel, training=training)

    def get_config(self):
        return {"name": self.name, "network": keras.saving.serialize_keras_object(self.network),
                "front_end": self.front_end.to_config(), "labels": list(self.labels)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def num_classes(self) -> int:
        return network_shape(self.network)[2]

    @property
    def has_label_names(self) -> bool:
        """False when the labels are only placeholders (class_0, class_1, ...)."""
        return self.labels != placeholder_labels(self.num_classes)

    # --- Creating and saving -----------------------------------------------------------------

    @classmethod
    def from_preset(cls, preset: str, num_classes: int | None = None, labels: Sequence[str] | None = None,
                    front_end: FrontEnd | None = None, dropout: float = 0.5) -> "AudioClassifier":
        """Creates a classifier from a preset name or a saved model.

        Args:
            preset: one of
                - a network of `keras_airn.network.registry.list_networks()`: a preset "b0", "b1",
                  "b1_2d" or a baseline (random weights, built for the front-end's mel bins; a
                  baseline for its frames too);
                - a folder written by `save_to_preset`, or a training run's folder
                  (`model_train.keras`, `front_end.json`, `labels.json`);
                - a `.keras` file (an `AudioClassifier` or a network; `front_end.json` and
                  `labels.json` beside it are used), or an official `.pyth` checkpoint.
            num_classes: outputs wanted; with `labels`, may be left out.
            labels: class names wanted. When they (or `num_classes`) differ from the model's,
                the network gets a new head and the release's fine-tuning set-up (every
                BatchNorm but the stem's frozen).
            front_end: front-end settings, overriding the saved ones (e.g. another clip length
                for fine-tuning; a preset name defaults to VGG-Sound's).
            dropout: dropout before a new head.

        Returns:
            The `AudioClassifier`.

        Example:
        >>> classifier = AudioClassifier.from_preset("b0", labels=["bark", "doorbell", "speech"])
        """
        from keras_airn.network.registry import create_network, list_networks, sized_for

        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise PresetError(f"num_classes must be a positive integer, got {num_classes!r}.")
        if labels is not None:
            labels = validate_labels(labels, "labels")
            if num_classes is not None and num_classes != len(labels):
                raise PresetError(f"num_classes={num_classes} but {len(labels)} labels were given.")
            num_classes = len(labels)
        if isinstance(preset, str) and preset.lower() in list_networks():
            front_end = front_end or FrontEnd()
            network = create_network(preset, num_classes or VGGSOUND_CLASSES,
                                     **sized_for(preset, front_end.num_frames, front_end.n_mels, dropout))
            return cls(network, front_end, labels)
        classifier = cls._load(preset)
        front_end = front_end or classifier.front_end
        wanted = num_classes or classifier.num_classes
        if wanted == classifier.num_classes and (labels is None or labels == classifier.labels
                                                 or not classifier.has_label_names):
            return cls(classifier.network, front_end, labels or classifier.labels, name=classifier.name)
        return cls(finetune_network(classifier.network, wanted, dropout), front_end, labels)

    @classmethod
    def _load(cls, path: str) -> "AudioClassifier":
        from keras_airn.network.loading import load_saved, model_file

        try:
            path = model_file(path)
            loaded = load_saved(path)
        except FileNotFoundError as error:
            from keras_airn.network.registry import list_networks

            if os.sep in path or "." in os.path.basename(path):  # a file's path, not a network's name
                raise PresetError(str(error)) from error
            raise PresetError(f"{error} (networks: {', '.join(list_networks())}).") from error
        except KerasAirnError as error:
            raise PresetError(str(error)) from error
        if isinstance(loaded, AudioClassifier):
            return loaded
        beside = os.path.dirname(os.path.abspath(path))
        front_end_path, labels_path = os.path.join(beside, FRONT_END_FILE), os.path.join(beside, LABELS_FILE)
        front_end = FrontEnd.load(front_end_path) if os.path.isfile(front_end_path) else None
        if front_end is None:
            logging.warning("%s: no %s beside it; assuming VGG-Sound's front-end (5.12 s clips). Pass "
                            "front_end= if the model was trained on other clips.", path, FRONT_END_FILE)
        labels = load_labels(labels_path, network_shape(loaded)[2]) if os.path.isfile(labels_path) else None
        return cls(loaded, front_end, labels)

    def save_to_preset(self, directory: str) -> str:
        """Saves everything into one folder that `from_preset` loads with no other file:
        `audio_classifier.keras` (network, front-end, labels), plus `front_end.json` and
        `labels.json` for other tools to read.

        Returns:
            The folder.
        """
        os.makedirs(directory, exist_ok=True)
        files.save_model(self, os.path.join(directory, PRESET_FILE))
        self.front_end.save(directory)
        save_labels(self.labels, os.path.join(directory, LABELS_FILE))
        return directory

    def reparameterize(self) -> "AudioClassifier":
        """The deploy form (merged kernels, folded BatchNorm): same outputs, faster inference.
        A baseline has no other form: itself."""
        from keras_airn.network.deploy import reparameterizable, reparameterize

        if not reparameterizable(self.network):
            return self
        return AudioClassifier(reparameterize(self.network), self.front_end, self.labels, name=self.name)

    # --- Training and evaluation -------------------------------------------------------------

    def _as_split(self, x, y, out_dir: str | None, name: str) -> Split:
        """`keras_airn.data.arrays.as_split` with this classifier's labels and front-end."""
        return as_split(x, y, self.labels, self.front_end, out_dir, name)

    def _checked_split(self, x, y, out_dir: str, name: str, bad_audio: str, verbose="auto") -> Split:
        """`_as_split`, its files' headers checked as `train.finetune` does."""
        from keras_airn.training.bad_audio import checked_split

        return checked_split(self._as_split(x, y, out_dir, name), name, self.front_end.sample_rate, out_dir,
                             bad_audio, verbose)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Sets what `fit` trains with and `evaluate` reports beside its own metrics.

        "auto" (the default, and what an uncompiled classifier uses) is the recipe's: `fit`'s
        `recipe` picks the optimizer and its schedule, the loss is cross-entropy on logits, the
        metric accuracy. Anything else replaces it: a Keras optimizer, loss or metrics (names or
        objects; custom classes must be registered serialisable, as the run's checkpoints hold
        them). Losses and metrics receive logits; in `evaluate`, the log of the views' mean
        probabilities (a logit vector whose softmax is that mean).

        Args:
            optimizer: "auto" or a Keras optimizer (then `classifier.optimizer`; None for "auto"
                until `fit` made the recipe's).
            loss: "auto" or a Keras loss on (integer labels, logits).
            metrics: "auto" or a list of Keras metrics.
            **kwargs: other `keras.Model.compile` arguments are not supported (the training step
                is the recipe's) and refused.

        Example:
        >>> from keras_airn import read_folder
        >>> classifier = AudioClassifier.from_preset("runs/demo", labels=["bark", "doorbell", "speech"])
        >>> classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> history = classifier.fit(read_folder("my_sounds")["train"], epochs=1, verbose=0)
        """
        if kwargs:
            raise TypeError(f"AudioClassifier.compile takes optimizer, loss and metrics; got {sorted(kwargs)}.")
        from keras_airn.training.run import compile_settings

        compiled, given = compile_settings(optimizer, loss, metrics, self.num_classes)
        self._compiled = compiled
        self.optimizer = given
        self.compiled = True

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int | None = None, verbose="auto",
            callbacks=None, validation_data=None, validation_freq: int | None = None, *,
            out_dir: str | None = None, resume: bool = False, recipe="small_data",
            learning_rate: float | None = None, strategy: str = "default", bad_audio: str = "skip",
            stop_after_epoch: int | None = None, **config) -> keras.callbacks.History:
        """Trains the network with a recipe (what `train.finetune` runs); Keras's `fit` signature.

        The recipe (`keras_airn.training.recipes`: `small_data` for your own audio, `release` the
        authors') brings SpecAugment, checkpoints, exact resume and precise BN; `compile()`
        replaces its optimizer, loss and metrics. Afterwards `classifier.optimizer` is the trained
        optimizer (built from the compiled one's config, as a checkpoint holds it).

        Validation, as the release's: `validation_data` after the last epoch, multi-view after
        precise BN (the last epoch's `val_*` logs); `validation_freq=N` also every N epochs before.

        Args:
            x, y: a `Split` whose labels are the classifier's; waveforms `x` and labels `y` (names
                or indices); a tuple (waveforms, labels); or a finite `tf.data.Dataset` of pairs.
            batch_size, epochs, learning_rate: override the recipe's (the global batch, as given).
            verbose: "auto", 0, 1 or 2, as Keras's.
            callbacks: Keras callbacks; they see this classifier as their model, and one that
                sets `stop_training` (EarlyStopping) ends training after that epoch.
            validation_data: as `x` (a tuple, a Split or a Dataset), or None.
            validation_freq: also evaluate every this many epochs (None: after the last only).
            out_dir, resume: the run folder (checkpoints, logs, models; a new temporary one by
                default) and whether to continue the run in it (or start one where there is none).
            recipe: "small_data", "release" (`keras_airn.training.recipes`) or a `TrainConfig`.
            strategy: "default", "mirrored" (local devices) or "multi_worker" (each worker of
                `TF_CONFIG` calls `training.distributed.make_strategy("multi_worker")`, then builds
                the classifier seeded alike and calls this, as `train.finetune` does).
            bad_audio: "skip": unreadable files (checked at start) and crops with NaN/Inf samples
                are listed in `out_dir/bad_audio_<split>.txt` and left out; "fail": an error naming them.
            stop_after_epoch: stop after this many epochs (`resume=True` goes on from there).
            **config: any other `TrainConfig` field (lr_steps, weight_decay, seed, wave, ...).

        Returns:
            A `keras.callbacks.History` (also `classifier.history`): per-epoch `loss`, accuracy
            and `val_*` logs; `history.summary` is the run's summary (epochs, metrics, paths).
        """
        from keras_airn.training.forward import ForwardTraining
        from keras_airn.training.trainer import check_out_dir, fit

        settings = fit_config(recipe, getattr(self.network, "freeze_batchnorm", False), epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, **config)
        check_count("validation_freq", validation_freq)
        if strategy == "multi_worker" and out_dir is None:
            raise ValueError("strategy='multi_worker' needs an out_dir that every worker reads (shared storage).")
        out_dir = out_dir or tempfile.mkdtemp(prefix="airn_fit_")
        if is_chief():
            check_out_dir(out_dir, resume)  # before the arrays are written into it
        train_split = self._checked_split(x, y, out_dir, "train", bad_audio, verbose)
        eval_split = (None if validation_data is None
                      else self._checked_split(validation_data, None, out_dir, "test", bad_audio, verbose))
        resolved = settings.resolved(len(train_split.examples))
        forward = ForwardTraining(self, callbacks, verbose, eval_split, validation_freq, resolved)
        result = fit(lambda: self.network, train_split, eval_split, self.front_end, resolved, out_dir,
                     resume=resume, strategy=strategy, stop_after_epoch=stop_after_epoch, bad_audio=bad_audio,
                     callbacks=[forward], compiled=getattr(self, "_compiled", None), verbose=verbose)
        return forward.finish(result)

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto", steps=None, callbacks=None,
                 return_dict: bool = False, *, views: int | None = None):
        """Multi-view evaluation: loss, top-1, top-5, mAP, AUC, d-prime and compiled metrics.

        Args:
            x: a `Split`, waveforms (with `y`), a (waveforms, labels) tuple or a `tf.data.Dataset`
                of (waveform, label) pairs.
            y: labels of the waveforms `x`.
            batch_size: crops per batch (32 by default).
            verbose: as Keras's: 0 and 2 hide the progress bar.
            steps, callbacks: not supported (every example is evaluated); refused when given.
            return_dict: a dict by name; otherwise a list in that order, as Keras's.
            views: crops per clip, their probabilities averaged (default: the front-end's).

        Returns:
            {"loss", "top1", "top5", "mAP", "AUC", "d_prime", "classes_scored", "examples",
            compiled metrics...} (mAP, AUC, d_prime when some class has positives and negatives),
            or its values as a list.
        """
        from keras_airn.training.trainer import TrainConfig, evaluate

        if steps is not None or callbacks:
            raise TypeError("AudioClassifier.evaluate evaluates every example: steps and callbacks are not taken.")
        check_count("views", views)
        check_count("batch_size", batch_size)
        split = self._as_split(x, y, None, "evaluation")
        metrics = evaluate(self.network, split, self.front_end,
                           TrainConfig(eval_views=views, eval_batch_size=batch_size or 32),
                           compiled=getattr(self, "_compiled", None), verbose=verbose)
        return metrics if return_dict else list(metrics.values())

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None, callbacks=None, *,
                views: int | None = None) -> np.ndarray:
        """Class probabilities of each waveform, averaged over evenly spaced crops.

        The preprocessor (`AudioPreprocessor`) turns each waveform into its crops' log-mel in a
        `tf.data` pipeline; the network's `predict` runs on the batches.

        Args:
            x: waveforms: a sequence of 1-D arrays (or one (clips, samples) array), or a
                `tf.data.Dataset` of waveforms or (waveform, label) pairs, at the front-end's
                rate: float in [-1, 1], or integer PCM (scaled as soundfile reads it).
            batch_size: crops per batch (32 by default).
            verbose, steps, callbacks: as `keras.Model.predict`'s.
            views: crops per waveform (default: the front-end's evaluation views).

        Returns:
            float32 (len(x), num_classes).
        """
        from keras_airn.inference.runtime import softmax

        check_count("views", views)
        check_count("batch_size", batch_size)
        if isinstance(x, (str, bytes, os.PathLike)):
            raise TypeError(f"predict takes waveforms, not the path {x!r}: read it with keras_airn.read_audio, or "
                            f"use classify_file.")
        if isinstance(x, tf.data.Dataset):
            x = dataset_waveforms(x)
        waveforms = [checked_waveform(waveform, f"waveform {i}", self.front_end) for i, waveform in enumerate(x)]
        if not waveforms:
            return np.zeros((0, self.num_classes), np.float32)
        preprocessor = self.preprocessor if views is None else AudioPreprocessor(self.front_end, views)
        batch = batch_size or 32
        crops = (tf.data.Dataset.from_generator(lambda: iter(waveforms), output_signature=tf.TensorSpec([None], tf.float32))
                 .map(preprocessor).unbatch().batch(batch)
                 .apply(tf.data.experimental.assert_cardinality(-(-len(waveforms) * preprocessor.views // batch))))
        logits = self.network.predict(crops, verbose=verbose, steps=steps, callbacks=callbacks)
        return softmax(logits).reshape(-1, preprocessor.views, self.num_classes).mean(axis=1).astype(np.float32)

    def classify_file(self, path: str, hop_seconds: float | None = None, top_k: int = 5) -> dict:
        """Classifies a recording of any length, format and rate, window by window.

        Args:
            path: WAV, FLAC, OGG or MP3 at any sample rate, any channels.
            hop_seconds: window hop (default: half a clip).
            top_k: labels per result.

        Returns:
            {"overall": [(label, score)] (mean of the windows' scores),
             "windows": [{"start", "end", "top": [(label, score)]}]}.
        """
        from keras_airn.inference.runtime import WindowScorer, summarize

        windows = WindowScorer(self.network, self.front_end).classify_file(path, hop_seconds)
        return summarize(windows, self.labels, top_k)

    # --- Export ------------------------------------------------------------------------------

    def export(self, out_dir: str, format: str = "tflite", precision="fp32", *, waveform_input: bool = False,
               calibration=None, evaluation=None, random_calibration: bool = False, int8_io: bool = False,
               num_calibration: int = CALIBRATION_CLIPS, num_eval: int = EVAL_CLIPS, trainable: bool = False,
               max_classes: int | None = None, time_as_rows: bool | None = None, int8_float_head: bool = True,
               adapt_stages: int = 0, replay_per_class: int | None = None) -> dict:
        """Converts to a device model with a parity report, as `convert.tflite`, `convert.onnx` and
        `convert.openvino` do (`keras_airn.export.formats.export_network`).

        Train forms are re-parameterised first. Beside the artifact: `labels.json`,
        `front_end.json` and the report; waveform-input TFLite models carry MediaPipe audio
        classifier metadata (sample rate, labels).

        Args:
            out_dir: output folder.
            format: "tflite", "onnx" or "openvino" (IR, `.xml` + `.bin`).
            precision: "fp32", "fp16", "dynamic" or "int8" (TFLite; "fp32" or "int8" for ONNX; "fp32",
                "int8" or "bf16" for OpenVINO, bf16 where the CPU has it), or a list.
            waveform_input: TFLite or OpenVINO input is (1, samples) float PCM with the front-end inside.
            calibration: a `Split` that calibrates int8 (typically the training split).
            evaluation: a `Split` on which parity and top-1 agreement are measured.
            random_calibration: allow int8 calibrated on noise.
            int8_io: int8 input/output tensors.
            num_calibration, num_eval: at most this many clips of each.
            trainable: a `.tflite` that learns on the device ("fp32", "dynamic" or "int8"), its signatures
                driven by `keras_airn.inference.personalise` (`keras_airn.export.trainable`).
            max_classes: a trainable model's head slots, its classes included (default: + 10).
            adapt_stages: a trainable model's last stages that learn with its head (`keras_airn.export.tail`).
            replay_per_class: a trainable model's replay set, clips per class of `calibration`
                (default `keras_airn.export.replay.DEFAULT_REPLAY_PER_CLASS`; 0: none).
            time_as_rows: time-axis convolutions on the transposed layout (same outputs); None:
                TFLite's rows, OpenVINO's fastest layout per precision (`--time_as_rows`).
            int8_float_head: TFLite and OpenVINO int8: keep the classifier head float (`--int8_float_head`).

        Returns:
            The report (also in `out_dir`).
        """
        from keras_airn.export.formats import export_network

        calibration_examples = self._as_split(calibration, None, out_dir, "calibration").examples if calibration else None
        examples = self._as_split(evaluation, None, out_dir, "evaluation").examples if evaluation else None
        return export_network(self.network, out_dir, format, precision, front_end=self.front_end,
                              label_names=self.labels, waveform=waveform_input, examples=examples,
                              calibration_examples=calibration_examples, random_calibration=random_calibration,
                              int8_io=int8_io, num_calibration=num_calibration, num_eval=num_eval,
                              trainable=trainable, max_classes=max_classes, time_as_rows=time_as_rows,
                              int8_float_head=int8_float_head, adapt_stages=adapt_stages,
                              replay_per_class=replay_per_class)
