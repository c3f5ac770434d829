"""The replay set a trainable `.tflite` carries: the embeddings its own `infer` gives a few
labelled calibration clips of each shipped class, appended as a file (`REPLAY_FILE`, float32
little-endian) beside its settings. Enrolment (`keras_airn.inference.personalise`) mixes these
rows in for the classes in use that the user's clips leave out, so that they are not forgotten.
"""

from __future__ import annotations

import numpy as np

from keras_airn.export.common import ConversionError, spread
from keras_airn.inference.artifacts import REPLAY_FILE

DEFAULT_REPLAY_PER_CLASS = 5  # chosen on generated folders: docs/personalise.md, "How many replay rows"


def checked_count(per_class) -> int:
    """`per_class` when it is a whole number >= 0.

    Raises:
        ConversionError: any other value.
    """
    from keras_airn.errors import check_count

    try:
        check_count("replay_per_class", per_class, minimum=0)
    except ValueError as error:
        raise ConversionError(str(error)) from error
    return per_class


def replay_examples(inputs, labels, per_class: int):
    """(model inputs, class index of each) of up to `per_class` of the labelled `inputs` of each
    class, spread over its clips; empty without labels.

    Args:
        inputs: model inputs, the labelled clips first (`ExportInputs.calibration`).
        labels: the class index of each of the first inputs, or None.
        per_class: rows per class.

    Example:
    >>> replay_examples(np.arange(6), np.array([0, 0, 0, 1, 1]), 2)[0].tolist()
    [0, 2, 3, 4]
    """
    if labels is None or not per_class:
        return inputs[:0], np.zeros(0, int)
    rows = np.array([i for c in sorted(set(labels.tolist()))
                     for i in spread(np.flatnonzero(labels == c).tolist(), per_class)], int)
    return inputs[rows], labels[rows]


def replay_files(data: bytes, input_name: str, examples, labels: list[str]) -> tuple[dict | None, dict]:
    """(the settings' "replay" entry, {REPLAY_FILE: bytes}) of a converted trainable model `data`
    and its `replay_examples`; (None, {}) when there are none.

    Args:
        data: the model's flatbuffer (its `infer` gives the embeddings).
        input_name: `infer`'s input ("waveform" or "log_mel").
        examples: (model inputs, class index of each).
        labels: the shipped classes' names.
    """
    from keras_airn.inference.artifacts import tflite_interpreter

    inputs, classes = examples
    if not len(classes):
        return None, {}
    infer = tflite_interpreter(data).get_signature_runner("infer")
    embeddings = np.concatenate([infer(**{input_name: x[None]})["embedding"] for x in inputs])
    entry = {"file": REPLAY_FILE, "shape": list(embeddings.shape), "labels": [labels[int(c)] for c in classes]}
    return entry, {REPLAY_FILE: embeddings.astype("<f4").tobytes()}
