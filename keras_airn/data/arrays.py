"""Audio held in memory (waveform arrays, `tf.data` datasets) as the `Split`s of audio files
that training, evaluation and export read (`AudioClassifier`'s `fit`, `evaluate`, `export`)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_airn.data.datasets import Example, Split
from keras_airn.errors import PresetError


def checked_waveform(waveform, what: str, front_end) -> np.ndarray:
    """A float32 mono waveform (`keras_airn.data.audio.pcm_samples`), at least one analysis
    window of `front_end` long.

    Raises:
        ValueError: an empty or too short waveform, named by `what`.
    """
    from keras_airn.data.audio import pcm_samples

    waveform = pcm_samples(waveform, what)
    if waveform.size == 0:
        raise ValueError(f"{what}: expected a non-empty 1-D array at {front_end.sample_rate} Hz, "
                         f"got shape {waveform.shape}.")
    if waveform.size < front_end.win_length:
        raise ValueError(f"{what}: {waveform.size} samples, shorter than one analysis window "
                         f"({front_end.win_length}); a (samples, channels) array read as clips? Pass "
                         f"a list of 1-D waveforms (stereo mixed down with x.mean(axis=1)).")
    return waveform


def label_index(target, label_names) -> int | None:
    """The class index of `target` (a name, or an index as int, NumPy integer or whole float), or
    None where it is not one of `label_names`'."""
    label = {name: i for i, name in enumerate(label_names)}.get(target, target) if isinstance(target, str) else target
    if isinstance(label, (float, np.floating)) and float(label).is_integer():
        label = int(label)  # 3.0 from a float array
    elif isinstance(label, np.integer):
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(label_names):
        return None
    return label


def write_split(waveforms, labels, label_names, front_end, folder: str, name: str) -> Split:
    """Writes each waveform as a float WAV file in `folder` and returns their `Split`.

    Args:
        waveforms, labels: the clips (at the front-end's rate) and their labels (names or indices).
        label_names: the classes, index = label.
        front_end: the `FrontEnd` (rate, window).
        folder: where the files go (created).
        name: what the data is, for error messages ("train", "evaluation", ...).
    """
    import soundfile

    if len(waveforms) != len(labels):
        raise ValueError(f"{len(waveforms)} waveforms but {len(labels)} labels.")
    os.makedirs(folder, exist_ok=True)
    examples = []
    for i, (waveform, target) in enumerate(zip(waveforms, labels)):
        label = label_index(target, label_names)
        if label is None:
            raise ValueError(f"{name} example {i}: unknown label {target!r}; labels are {label_names[:10]}.")
        waveform = checked_waveform(waveform, f"{name} example {i}", front_end)
        path = os.path.join(folder, f"{i:06d}.wav")
        soundfile.write(path, waveform, front_end.sample_rate, subtype="FLOAT")
        examples.append(Example(path, label))
    return Split(examples, list(label_names))


def _dataset_elements(dataset, what: str) -> list:
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"The {what} dataset is infinite (.repeat()?): pass a finite one.")
    return list(dataset.as_numpy_iterator())


def dataset_pairs(dataset, what: str) -> tuple[list, list]:
    """(waveforms, labels) of a finite `tf.data.Dataset` of (waveform, label) pairs, batched or not."""
    waveforms, labels = [], []
    for element in _dataset_elements(dataset, what):
        if not (isinstance(element, tuple) and len(element) == 2):
            raise TypeError(f"The {what} dataset must yield (waveform, label) pairs.")
        waveform, label = element
        batched = np.ndim(waveform) == 2
        waveforms.extend(waveform if batched else [waveform])
        labels.extend(list(label) if batched else [label])
    return waveforms, [label.decode() if isinstance(label, bytes) else label for label in labels]


def dataset_waveforms(dataset) -> list:
    """The waveforms of a finite `tf.data.Dataset` of waveforms or (waveform, label) pairs, batched or not."""
    waveforms = []
    for element in _dataset_elements(dataset, "prediction"):
        waveform = element[0] if isinstance(element, tuple) else element
        waveforms.extend(waveform if np.ndim(waveform) == 2 else [waveform])
    return waveforms


def as_split(x, y, label_names, front_end, out_dir: str | None, name: str) -> Split:
    """The `Split` that the classifier's `fit`, `evaluate` and `export` take data as.

    Args:
        x: a `Split`; waveforms (with `y`) or a (waveforms, labels) tuple; or a finite
            `tf.data.Dataset` of (waveform, label) pairs (batched or not).
        y: labels of the waveforms `x` (names or indices), else None.
        label_names: the classifier's labels; a `Split` must have the same.
        front_end: the classifier's `FrontEnd` (sample rate of the waveforms).
        out_dir: arrays are written as WAV files under `out_dir/data/<name>` (a new temporary
            folder when None).
        name: what the data is for, in messages ("train", "evaluation", ...).

    Returns:
        The `Split`.
    """
    if isinstance(x, Split):
        if y is not None:
            raise TypeError(f"{name} data is a Split, which holds its labels: pass no y.")
        if x.label_names != label_names:
            raise PresetError(f"The {name} data's labels {x.label_names[:10]} differ from the "
                              f"classifier's {label_names[:10]}; create it with "
                              f"`from_preset(..., labels=split.label_names)`.")
        return x
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise TypeError(f"{name} data is a tf.data.Dataset of (waveform, label) pairs: pass no y.")
        x, y = dataset_pairs(x, name)
    elif isinstance(x, tuple) and len(x) == 2:
        if y is not None:
            raise TypeError(f"{name} data is a (waveforms, labels) tuple and y is given too: pass validation "
                            f"data by name, validation_data=(waveforms, labels).")
        x, y = x
    if y is None:
        raise TypeError(f"{name} data must be a Split (see keras_airn.read_folder), waveforms and labels, or a "
                        f"tf.data.Dataset of (waveform, label) pairs; got {type(x).__name__} without labels.")
    folder = os.path.join(out_dir or tempfile.mkdtemp(prefix="airn_"), "data", name)
    return write_split(x, y, label_names, front_end, folder, name)
