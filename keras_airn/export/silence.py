"""int8 on exact digital zeros: the silent and zero-padded windows that calibration holds and
that the int8 reports measure (`keras_airn.export.common` feeds them to every exporter)."""

from __future__ import annotations

import numpy as np

# Streams hold exact digital zeros that recordings rarely do: silence, and the zeros MediaPipe pads
# a stream's last window with. Their log-mel sits at the front-end's floor, log(LOG_OFFSET), far
# below any frame of real audio, so int8 ranges calibrated on audio alone clip it and flip
# decisions (0.97 top-1 agreement on silent windows, one of two padded windows). Calibration
# therefore always holds such windows (`silent_windows`), and the reports measure int8 on them
# against Keras, with these bounds.
SILENCE_BOUND, PADDED_WINDOW_BOUND = 0.99, 0.95
# At most this many calibration clips also calibrate as silent and zero-padded windows.
SILENT_CALIBRATION_CLIPS = 16


def silent_windows(crops: np.ndarray, front_end, count: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Windows holding exact zeros, made from `count` of `crops` (`spread`), each as (log-mel
    inputs (N, T, F, 1), samples (N, crop)); Keras's reference is the log-mel of the samples as
    they are (zeros are audio: no end marker).

    "silence": one window of zeros, and zeros followed by the first half of each crop's signal
    (a stream going silent, then sound); "padded_window": the last half of each crop's signal
    followed by zeros, as MediaPipe pads a stream's last window.

    Args:
        crops: (N, crop) samples, possibly ending in the end marker (`pad_to_input`).
        front_end: settings.
        count: at most this many crops.
    """
    from keras_airn.data.features import clip_features
    from keras_airn.export.common import spread

    size = crops.shape[1]
    half = size // 2
    signals = [crop[~np.isnan(crop)] for crop in spread(list(crops), count)]
    silence = [np.zeros(size, np.float32)] + [np.concatenate([np.zeros(size - half), s[:half]]) for s in signals]
    padded = [s[-half:] for s in signals]
    result = {}
    for name, windows in (("silence", silence), ("padded_window", padded)):
        waves = np.stack([np.pad(w, (0, size - w.shape[0])) for w in windows]).astype(np.float32)
        features = np.stack([clip_features(w, 0, front_end).numpy()[..., None] for w in waves])
        result[name] = features, waves
    return result


def with_silent_windows(inputs, front_end, count: int = SILENT_CALIBRATION_CLIPS):
    """Calibration inputs (as `held_out_inputs`, raw crops included) with the `silent_windows`
    of up to `count` of them appended; the labels stay those of the clips."""
    features, waves, labels = inputs
    extra = silent_windows(waves, front_end, count).values()
    return (np.concatenate([features, *(f for f, _ in extra)]), np.concatenate([waves, *(w for _, w in extra)]),
            labels)


def silent_window_parity(run, inputs) -> dict:
    """Top-1 agreement with Keras of an artifact (`run`: inputs to logits) on the evaluation
    clips' `silent_windows` (`inputs`: `keras_airn.export.common.ExportInputs`):
    {"silence_top1_agreement", "padded_window_top1_agreement", ...}."""
    entry = {}
    for name, (windows, reference) in inputs.silent.items():
        logits = run(windows)[:, : reference.shape[1]]
        entry[f"{name}_top1_agreement"] = float(np.mean(logits.argmax(1) == reference.argmax(1)))
        entry[f"{name}_windows"] = int(len(windows))
    return entry


def note_silent_windows(name: str, entry: dict) -> None:
    """Logs a warning, and records it, when an int8 artifact misses `SILENCE_BOUND` or
    `PADDED_WINDOW_BOUND` on silent windows."""
    from absl import logging

    misses = [f"{key} {entry[key]:.3f} < {bound}" for key, bound in (("silence_top1_agreement", SILENCE_BOUND),
                                                                       ("padded_window_top1_agreement",
                                                                        PADDED_WINDOW_BOUND))
              if key in entry and entry[key] < bound]
    if misses:
        entry["silent_windows_warning"] = f"below bound on exact zeros: {', '.join(misses)}"
        logging.warning("%s: %s", name, entry["silent_windows_warning"])
