"""Running a trained model on audio: a Keras model, a `.keras` file, a `.tflite`, `.onnx` or
OpenVINO IR (`.xml`) artifact.

`WindowScorer` scores a recording window by window with the front-end the model was trained
with; every kind of model gives the same scores (tests/test_classify.py). Files are opened by
`keras_airn.inference.artifacts`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import logging

from keras_airn.inference.artifacts import artifact_kind, onnx_session, openvino_model, tflite_interpreter
from keras_airn.errors import ClassifyError


@dataclasses.dataclass
class Window:
    start_seconds: float
    end_seconds: float
    scores: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def top_labels(scores: np.ndarray, labels, top_k: int) -> list[tuple[str, float]]:
    """The `top_k` (label, score) pairs, best first."""
    return [(labels[i], float(scores[i])) for i in np.argsort(scores)[::-1][:top_k]]


def summarize(windows: list[Window], labels, top_k: int) -> dict:
    """A recording's result: {"overall": top (label, score) of the mean window scores,
    "windows": [{"start", "end", "top"}]}."""
    if top_k < 1:
        raise ClassifyError(f"top_k must be at least 1, got {top_k}.")
    overall = np.mean([window.scores for window in windows], axis=0)
    return {"overall": top_labels(overall, labels, top_k),
            "windows": [{"start": w.start_seconds, "end": w.end_seconds, "top": top_labels(w.scores, labels, top_k)}
                        for w in windows]}


class WindowScorer:
    """Scores recordings window by window with a model and the front-end it was trained with.

    Args:
        model: an `AudioRepInceptionNeXt` (or a baseline network), or a `.keras`, `.tflite`
            (either input form; a trainable one too), `.onnx` or OpenVINO IR `.xml` (either input
            form) file, or a `keras_airn.inference.personalise.TrainableModel`.
        front_end: the model's `FrontEnd`.
        head: a trainable model's head file (`keras_airn.inference.personalise.Head`); its labels are
            the scorer's `labels`.

    Example:
    >>> from keras_airn.data.features import FrontEnd
    >>> front_end = FrontEnd.load("export/front_end.json")
    >>> classifier = WindowScorer("export/airn_b0_deploy_waveform_int8.tflite", front_end)
    >>> windows = classifier.classify_file("street.flac", hop_seconds=1.0)
    """

    def __init__(self, model, front_end, head: str | None = None):
        from keras_airn.network.loading import network_shape
        from keras_airn.inference.personalise import HeadError, TrainableModel

        self.front_end = front_end
        self.model = self.interpreter = self.session = self.request = self.trainable = None
        self.waveform_input = False
        if isinstance(model, TrainableModel):
            self.trainable, self.path = model, model.path
        elif network_shape(model) is not None:  # an AudioRepInceptionNeXt or a baseline network
            self.model, self.path = model, model.name
        elif not isinstance(model, str) or not os.path.isfile(model):
            raise ClassifyError(f"No model file at {model!r}.")
        else:
            self.path = model
            kind = artifact_kind(model)
            if kind == "keras":
                from keras_airn.network.loading import load_deploy

                self.model = load_deploy(model)
            elif kind == "tflite" and _is_trainable(model):
                self.trainable = TrainableModel(model)
            elif kind == "tflite":
                self.interpreter = tflite_interpreter(model)
                self._check_input(tuple(self.interpreter.get_input_details()[0]["shape"]))
            elif kind == "openvino":
                compiled = openvino_model(model)
                self.request = compiled.create_infer_request()
                self._check_input(tuple(compiled.input(0).get_partial_shape().get_min_shape()))
            else:
                self.session = onnx_session(model)
                source = self.session.get_inputs()[0]
                self._onnx_input = source.name
                self._check_input(tuple(1 if not isinstance(d, int) else d for d in source.shape))
        if head is not None and self.trainable is None:
            raise HeadError(f"{self.path}: a head file goes with a trainable .tflite model, not this one.")
        if self.trainable is not None:
            if head is not None:
                self.trainable.load_head(head)
            self._check_input(self.trainable.input_shape)
        if self.model is not None:
            frames, bins, _ = network_shape(self.model)
            if bins != front_end.n_mels or frames not in (None, front_end.num_frames):
                raise ClassifyError(f"{self.path}: the model takes {frames or 'any number of'} frames x {bins} mel "
                                    f"bins, the front-end makes {front_end.num_frames} x {front_end.n_mels}.")
            import tensorflow as tf

            # Traced once: eager calls cost far more per window (docs/benchmarks.md).
            model = self.model
            self._infer = tf.function(
                lambda log_mel: model(log_mel, training=False),
                input_signature=[tf.TensorSpec([1, front_end.num_frames, front_end.n_mels, 1], tf.float32)])

    @classmethod
    def from_file(cls, path: str, front_end: str | None = None, head: str | None = None) -> "WindowScorer":
        """The scorer of a model file with the front-end `front_end` names (a front_end.json or a
        release dataset), else the front_end.json beside it; a missing file or one of another
        kind is named before any front_end.json is looked for.

        Raises:
            ClassifyError: no file at `path`, or not a .keras, .tflite, .onnx or .xml model.
            FrontEndError: no front-end named and none beside the model.
        """
        from keras_airn.data.features import FrontEnd, FrontEndError

        if not os.path.exists(path):
            raise ClassifyError(f"No model file at {path!r}.")
        artifact_kind(path)
        chosen = FrontEnd.beside_model(path, front_end)
        if front_end:  # a model whose window is not fixed runs on any front-end: say when it is not its own
            try:
                own = FrontEnd.beside_model(path)
            except FrontEndError:
                own = None
            if own is not None and own != chosen:
                logging.warning("%s: the front-end given (%s) is not the front_end.json beside the model; scores "
                                "are only meaningful with the settings the model was trained with.", path, front_end)
        return cls(path, chosen, head)

    def _check_input(self, shape: tuple) -> None:
        """An artifact's input: (1, samples) PCM or (1, frames, mel bins, 1) log-mel of the front-end."""
        self.waveform_input = len(shape) == 2
        front_end = self.front_end
        expected = ((1, front_end.clip_size - 1) if self.waveform_input
                    else (1, front_end.num_frames, front_end.n_mels, 1))
        if shape != expected:
            raise ClassifyError(f"{self.path}: input shape {shape} does not match the front-end "
                                f"({expected}); pass the model's front_end.json.")

    @property
    def labels(self) -> list[str] | None:
        """A trainable model's labels of the classes in use (its scores' order), else None: the
        labels are then in a file beside the model (`labels_beside`)."""
        if self.trainable is None:
            return None
        return [self.trainable.labels[i] for i in self.trainable.in_use]

    @property
    def num_classes(self) -> int:
        if self.trainable is not None:
            return len(self.trainable.in_use)
        if self.model is not None:
            from keras_airn.network.loading import network_shape

            return network_shape(self.model)[2]
        if self.session is not None:
            return int(self.session.get_outputs()[0].shape[-1])
        if self.request is not None:
            return int(self.request.get_output_tensor(0).shape[-1])
        return int(self.interpreter.get_output_details()[0]["shape"][-1])

    def hop_samples(self, hop_seconds: float | None) -> int:
        """The window hop in samples (default: half a clip), for files and streams alike.

        Raises:
            ClassifyError: not a positive number, or shorter than one front-end frame hop (a
                window every few samples scores the same audio over and over, like a hang).
        """
        front_end = self.front_end
        if hop_seconds is not None and not (np.isfinite(hop_seconds) and hop_seconds > 0):
            raise ClassifyError(f"hop_seconds must be a positive number of seconds, got {hop_seconds}.")
        hop = int(round((hop_seconds or front_end.clip_seconds / 2) * front_end.sample_rate))
        if hop < front_end.hop_length:
            raise ClassifyError(f"hop_seconds {hop_seconds} is shorter than one frame hop "
                                f"({front_end.hop_length / front_end.sample_rate:g} s).")
        return hop

    def window_starts(self, num_samples: int, hop_seconds: float | None) -> list[int]:
        """Crop starts covering the recording; one window for clips up to a crop long."""
        hop = self.hop_samples(hop_seconds)
        crop = self.front_end.clip_size - 1
        if num_samples <= crop:
            return [0]
        starts = list(range(0, num_samples - crop + 1, hop))
        if starts[-1] != num_samples - crop:
            starts.append(num_samples - crop)
        return starts

    def logits(self, audio: np.ndarray, start: int) -> np.ndarray:
        """Logits of the window of `audio` starting at sample `start`."""
        return self.infer(self.model_input(audio, start))

    def model_input(self, audio: np.ndarray, start: int) -> np.ndarray:
        """The model's input for the window of `audio` starting at sample `start`: (1, samples)
        PCM or (1, frames, mel bins, 1) log-mel."""
        from keras_airn.data.features import clip_features

        crop = self.front_end.clip_size - 1
        if self.waveform_input:
            from keras_airn.inference.artifacts import pad_to_input

            # A short recording: its end marked, the model repeats its last frame as training does.
            return pad_to_input(audio[start : start + crop], crop)[None]
        return clip_features(audio, start, self.front_end).numpy()[None, ..., None]

    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """Logits of one model input: (1, samples) PCM or (1, frames, mel bins, 1) log-mel."""
        if self.trainable is not None:
            return self.trainable.infer(inputs)[0][self.trainable.in_use]
        if self.model is not None:
            return self._infer(inputs).numpy()[0]
        if self.session is not None:
            return self.session.run(None, {self._onnx_input: inputs.astype(np.float32)})[0][0]
        if self.request is not None:
            return self.request.infer([inputs.astype(np.float32)])[0][0]
        from keras_airn.inference.tflite_invoke import invoke_all

        return invoke_all(self.interpreter, inputs)[0]

    def classify_audio(self, audio: np.ndarray, hop_seconds: float | None = None) -> list[Window]:
        """Scores (softmax) of each window of a mono recording at the front-end's rate."""
        rate = self.front_end.sample_rate
        windows = []
        for start in self.window_starts(len(audio), hop_seconds):
            end = min(len(audio), start + self.front_end.clip_size - 1)
            windows.append(Window(start / rate, end / rate, softmax(self.logits(audio, start))))
        return windows

    def classify_file(self, path: str, hop_seconds: float | None = None, resample_audio: bool = True,
                      progress: bool | None = None) -> list[Window]:
        """Scores of each window of one file (any format and rate `keras_airn.data.audio` reads).

        The file is read block by block and each window scored as soon as its samples are in, so
        memory does not grow with the file's length.

        Args:
            path: the audio file.
            hop_seconds: window hop (default: half a clip).
            resample_audio: False rejects files at another rate.
            progress: show a progress bar (default: for files over a minute).
        """
        from tqdm.auto import tqdm

        from keras_airn.data.audio import AudioError, stream_audio

        rate, crop = self.front_end.sample_rate, self.front_end.clip_size - 1
        try:
            announced, blocks = stream_audio(path, rate, resample_audio, resampler=self.front_end.resampler)
            if announced <= crop:  # one window over the whole (short) recording
                return self.classify_audio(np.concatenate(list(blocks)), hop_seconds)
            starts = self.window_starts(announced, hop_seconds)
            windows, buffer, offset = [], np.zeros(0, np.float32), 0
            pending = iter(starts)
            start = next(pending)
            show = progress if progress is not None else announced > 60 * rate
            bar = tqdm(total=round(announced / rate, 1), desc=os.path.basename(path), unit="s", disable=not show,
                       leave=False, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]")
            for block in blocks:
                bar.update(round(block.shape[0] / rate, 3))
                buffer = np.concatenate([buffer, block])
                while start is not None and start + crop <= offset + buffer.shape[0]:
                    window = buffer[start - offset : start - offset + crop]
                    windows.append(Window(start / rate, (start + crop) / rate, softmax(self.logits(window, 0))))
                    start = next(pending, None)
                keep = start if start is not None else offset + buffer.shape[0]
                buffer, offset = buffer[keep - offset :], keep
            bar.close()
        except AudioError as error:
            raise ClassifyError(str(error)) from error
        if start is not None:  # a cut-off file: the rest of the recording, as one window to its end
            end = offset + buffer.shape[0]
            last = max(0, end - crop)
            audio = buffer[last - offset :] if last >= offset else buffer
            windows.append(Window(last / rate, end / rate, softmax(self.logits(audio, 0))))
        return windows


def _is_trainable(path: str) -> bool:
    """Whether a `.tflite` file is a trainable model (`keras_airn.export.trainable`)."""
    from keras_airn.inference.artifacts import read_trainable_settings

    with open(path, "rb") as handle:
        return read_trainable_settings(handle.read()) is not None


def labels_beside(model_path: str, num_classes: int, path: str | None = None) -> list[str]:
    """Labels from `path`, else `labels.json` / `labels.txt` beside the model, else class indices.

    Raises:
        ClassifyError: when the label file's count differs from the model's outputs.
    """
    from keras_airn.data.labels import LABELS_FILE, LabelError, load_labels

    beside = os.path.dirname(os.path.abspath(model_path))
    candidates = [path] if path else [os.path.join(beside, LABELS_FILE), os.path.join(beside, "labels.txt")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            try:
                return load_labels(candidate, num_classes)
            except LabelError as error:
                raise ClassifyError(str(error)) from error
    if path:
        raise ClassifyError(f"{path}: label file not found.")
    return [f"class_{i}" for i in range(num_classes)]
