"""Window-by-window classification of audio files with a .keras or .tflite model."""

from __future__ import annotations

import dataclasses
import os

import numpy as np


class ClassifyError(ValueError):
    """The audio or the model cannot be used as asked."""


@dataclasses.dataclass
class Window:
    start_seconds: float
    end_seconds: float
    scores: np.ndarray


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Classifier:
    """Wraps a .keras or .tflite model with the front-end it was trained with.

    Args:
        model_path: .keras or .tflite file.
        front_end: `FrontEnd` settings of the model.
    """

    def __init__(self, model_path: str, front_end):
        if not os.path.isfile(model_path):
            raise ClassifyError(f"No model file at {model_path!r}.")
        self.front_end = front_end
        self.path = model_path
        if model_path.endswith(".keras"):
            import keras_airn as ka

            self.model = ka.load_deploy(model_path)
            self.waveform_input = False
            if self.model.num_mel_bins != front_end.n_mels:
                raise ClassifyError(f"{model_path}: model takes {self.model.num_mel_bins} mel bins, "
                                    f"the front-end makes {front_end.n_mels}.")
        elif model_path.endswith(".tflite"):
            from ai_edge_litert.interpreter import Interpreter

            try:
                self.interpreter = Interpreter(model_path=model_path, num_threads=1)
                self.interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as error:
                raise ClassifyError(f"{model_path}: not a loadable .tflite model ({error}).") from error
            shape = tuple(self.interpreter.get_input_details()[0]["shape"])
            self.waveform_input = len(shape) == 2
            expected = ((1, front_end.clip_size - 1) if self.waveform_input
                        else (1, front_end.num_frames, front_end.n_mels, 1))
            if shape != expected:
                raise ClassifyError(f"{model_path}: input shape {shape} does not match the front-end "
                                    f"({expected}); pass the model's --front_end json.")
        else:
            raise ClassifyError(f"{model_path}: expected a .tflite or .keras model.")

    def window_starts(self, num_samples: int, hop_seconds: float | None) -> list[int]:
        """Crop starts covering the recording; one window for clips up to a crop long."""
        crop = self.front_end.clip_size - 1
        if num_samples <= crop:
            return [0]
        hop = int(round((hop_seconds or self.front_end.clip_seconds / 2) * self.front_end.sample_rate))
        if hop <= 0:
            raise ClassifyError("--hop_seconds must be positive.")
        starts = list(range(0, num_samples - crop + 1, hop))
        if starts[-1] != num_samples - crop:
            starts.append(num_samples - crop)
        return starts

    def logits(self, audio: np.ndarray, start: int) -> np.ndarray:
        from keras_airn.features import clip_features

        crop = self.front_end.clip_size - 1
        if self.waveform_input:
            window = audio[start : start + crop]
            if len(window) < crop:  # a short recording: repeat its last sample (edge padding)
                window = np.pad(window, (0, crop - len(window)), mode="edge")
            inputs = window[None].astype(np.float32)
        else:
            inputs = clip_features(audio, start, self.front_end).numpy()[None, ..., None]
        if hasattr(self, "model"):
            # A direct call: predict() sets up a data pipeline per call, costly per window.
            return np.asarray(self.model(inputs, training=False))[0]
        from convert.tflite_invoke import invoke_all

        return invoke_all(self.interpreter, inputs)[0]

    def classify_file(self, path: str, hop_seconds: float | None = None) -> list[Window]:
        """Scores of each window of one file."""
        from keras_airn.audio import AudioError, read_audio

        try:
            audio = read_audio(path, self.front_end.sample_rate)
        except AudioError as error:
            raise ClassifyError(str(error)) from error
        rate = self.front_end.sample_rate
        windows = []
        for start in self.window_starts(len(audio), hop_seconds):
            end = min(len(audio), start + self.front_end.clip_size - 1)
            windows.append(Window(start / rate, end / rate, _softmax(self.logits(audio, start))))
        return windows


def load_labels(path: str | None, model_path: str, num_classes: int) -> list[str]:
    """Labels from --labels, a file beside the model, or class indices."""
    beside = os.path.dirname(os.path.abspath(model_path))
    candidates = [path] if path else [os.path.join(beside, "labels.txt"), os.path.join(beside, "labels.json")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            if candidate.endswith(".json"):
                from train.datasets import load_label_map

                labels = load_label_map(candidate)
            else:
                labels = [line.rstrip("\n") for line in open(candidate) if line.strip()]
            if len(labels) != num_classes:
                raise ClassifyError(f"{candidate} has {len(labels)} labels; the model has {num_classes} outputs.")
            return labels
    return [f"class_{i}" for i in range(num_classes)]
