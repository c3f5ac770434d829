"""Pieces shared by the exporters: the model to export, held-out data, parity, side files, and
the conversion report both write.

The report (`report.json` for TFLite, `report_onnx.json` for ONNX, `report_openvino.json` for
OpenVINO IR, so all fit in one folder) has one schema: "format" ("tflite", "onnx" or "openvino"),
"model" (its source), "form", "num_classes", "params",
"macs", "input" ("spectrogram" or "waveform"), "front_end", "eval_clips", and "artifacts":
{precision: {"file", "bytes", "ops", "max_rel_logit_error", "top1_agreement", ...}}; a TFLite int8
artifact adds "silence_top1_agreement" and "padded_window_top1_agreement" (`silent_windows`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_airn import files
from keras_airn.errors import KerasAirnError
from keras_airn.network.deploy import reparameterizable, reparameterize
from keras_airn.export.silence import (  # noqa: F401 (also read from here, their home before)
    PADDED_WINDOW_BOUND,
    SILENCE_BOUND,
    SILENT_CALIBRATION_CLIPS,
    note_silent_windows,
    silent_window_parity,
    silent_windows,
    with_silent_windows,
)


class ConversionError(KerasAirnError):
    """The model or the data given for conversion cannot produce a valid artifact."""


# At most this many clips calibrate int8 / measure parity, unless asked otherwise: the one default of
# every exporter, `AudioClassifier.export` and the convert CLIs.
CALIBRATION_CLIPS = 200
EVAL_CLIPS = 500

INT8_NEEDS_DATA = ("int8 needs representative data: give clips (--data_dir/--csv; `calibration=` in Python) or "
                   "allow calibration on noise (--random_calibration; `random_calibration=True`).")


def check_out_dir(out_dir: str) -> None:
    """Refuses an output path that exists and is not a folder, before any conversion work."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConversionError(f"{out_dir}: exists and is not a folder; export writes a folder of artifacts.")


def model_for_export(model, keep_train_form: bool = False, time_as_rows: bool = False):
    """The model to convert: re-parameterised unless asked not to.

    Args:
        model: an `AudioRepInceptionNeXt`, or a `.keras` / `.pyth` file, or any other Keras model
            from log-mel to logits (a baseline of `keras_airn.network.baselines`: exported as it is).
        keep_train_form: export the train form as it is.
        time_as_rows: time-axis convolutions on the transposed layout (same outputs; faster
            under XNNPACK, see `MultiScaleDepthwiseMixer`).
    """
    from keras_airn.network.loading import load_model

    if isinstance(model, str):
        try:
            model = load_model(model)
        except (KerasAirnError, FileNotFoundError) as error:  # the file's problem, named
            raise ConversionError(str(error)) from error
    if not reparameterizable(model):
        return model
    if not model.deploy and not keep_train_form:
        model = reparameterize(model)
    return model.with_options(time_as_rows=True) if time_as_rows else model


def resolve_for_export(model, out_dir: str, precisions, known, front_end, sample_rate, keep_train_form: bool,
                       time_as_rows: bool):
    """The model to convert (`model_for_export`) and its front-end, after the argument checks
    every exporter makes before any conversion work.

    Args:
        model, keep_train_form, time_as_rows: as `model_for_export`.
        out_dir: the output folder (`check_out_dir`).
        precisions: the precisions asked for; `known`: those the format has.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        sample_rate: if given, must equal the front-end's rate.

    Raises:
        ConversionError: an unknown precision, a rate or input size that is not the front-end's.
    """
    from keras_airn.data.features import FrontEnd

    front_end = front_end or FrontEnd()
    check_out_dir(out_dir)
    if sample_rate is not None and sample_rate != front_end.sample_rate:
        raise ConversionError(f"--sample_rate {sample_rate} does not match the model's front-end "
                              f"({front_end.sample_rate} Hz); a waveform model must see the rate it was "
                              f"trained on.")
    checked_precisions(precisions, known)
    model = model_for_export(model, keep_train_form, time_as_rows)
    frames, bins = model.input_shape[1:3]
    if bins != front_end.n_mels or frames not in (None, front_end.num_frames):
        raise ConversionError(f"The model takes {frames or 'any'} x {bins} log-mel frames x bins; the front-end "
                              f"makes {front_end.num_frames} x {front_end.n_mels}.")
    return model, front_end


def input_form(waveform: bool) -> str:
    """The report's "input" and the artifact name's input word: "waveform" or "spectrogram"."""
    return "waveform" if waveform else "spectrogram"


def is_airn(model) -> bool:
    """Deprecated: `keras_airn.network.deploy.reparameterizable`."""
    import warnings

    warnings.warn("is_airn is deprecated; use keras_airn.network.deploy.reparameterizable.", DeprecationWarning,
                  stacklevel=2)
    return reparameterizable(model)


def artifact_stem(model) -> str:
    """The start of an artifact's file name: `<name>_<deploy|train>` for a network with a deploy
    form (AudioRepInceptionNeXt), the model's name for another (a baseline)."""
    return f"{model.name}_{'deploy' if model.deploy else 'train'}" if reparameterizable(model) else model.name


def describe(model, front_end) -> dict:
    """What a conversion report records about the model: its form, classes, and its parameters and
    MACs at the front-end's input size (what `edge.benchmark` plots)."""
    from keras_airn.network.profile import profile

    params, macs = profile(model, (front_end.num_frames, front_end.n_mels))
    return {"form": model.form if reparameterizable(model) else "baseline", "num_classes": int(model.output_shape[-1]),
            "params": params, "macs": macs}


def checked_precisions(precisions, allowed) -> list[str]:
    """`precisions` (a name or a list of names) as a list, each one of `allowed`.

    Raises:
        ConversionError: None, an empty list (an export that writes nothing), or an unknown name.
    """
    if precisions is None or isinstance(precisions, str):
        precisions = [precisions] if precisions else []
    precisions = list(precisions)
    if not precisions:
        raise ConversionError(f"no precision given: name at least one of {', '.join(allowed)}.")
    unknown = [p for p in precisions if p not in allowed]
    if unknown:
        raise ConversionError(f"Unknown precision(s) {unknown}; choose from {', '.join(allowed)}.")
    return precisions


def write_sidecars(out_dir: str, front_end, label_names, num_classes: int) -> None:
    """Writes what a runtime needs beside an artifact: `front_end.json` and `labels.json`."""
    from keras_airn.data.features import FRONT_END_FILE, FrontEnd
    from keras_airn.data.labels import LABELS_FILE, load_labels, save_labels

    old_artifacts = [name for name in os.listdir(out_dir) if name.endswith(tuple(ARTIFACT_EXTENSIONS.values()))]
    old_front_end, old_labels = os.path.join(out_dir, FRONT_END_FILE), os.path.join(out_dir, LABELS_FILE)
    if old_artifacts and (
            (os.path.isfile(old_front_end) and FrontEnd.load(old_front_end) != front_end)
            or (os.path.isfile(old_labels) and label_names and load_labels(old_labels) != list(label_names))):
        raise ConversionError(f"{out_dir} holds artifacts of another model ({', '.join(sorted(old_artifacts)[:3])}) "
                              f"whose labels or front-end differ; choose another output folder or empty it.")
    front_end.save(out_dir)
    if label_names:
        if len(label_names) != num_classes:
            raise ConversionError(f"{len(label_names)} labels for a model with {num_classes} classes.")
        save_labels(label_names, os.path.join(out_dir, LABELS_FILE))



REPORT_FILES = {"tflite": "report.json", "onnx": "report_onnx.json", "openvino": "report_openvino.json",
                "tflite_trainable": "report_trainable.json"}
# The file each format's report lists per artifact (an OpenVINO IR's .xml; its .bin is "weights").
ARTIFACT_EXTENSIONS = {"tflite": ".tflite", "onnx": ".onnx", "openvino": ".xml", "tflite_trainable": ".tflite"}


def new_report(artifact_format: str, source: str, model, front_end, input_form: str, eval_clips: int,
               **fields) -> dict:
    """A conversion report with no artifacts yet (the schema in this module's docstring).

    Args:
        artifact_format: "tflite", "onnx" or "openvino".
        source: the model's file or name.
        model: the model converted.
        front_end: its `FrontEnd`.
        input_form: "spectrogram" or "waveform".
        eval_clips: how many held-out clips every artifact was compared on.
        **fields: format-specific fields (e.g. TFLite's "time_as_rows").
    """
    return {"format": artifact_format, "model": source, **describe(model, front_end), "input": input_form,
            "front_end": front_end.to_config(), "eval_clips": int(eval_clips), **fields, "artifacts": {}}


def enforce_bound(name: str, entry: dict, bound: float) -> None:
    """Records `bound` and whether the artifact's logits meet it; refuses the artifact if not.

    Raises:
        ConversionError: the maximum relative logit error is over `bound`.
    """
    entry["bound"] = bound
    entry["within_bound"] = entry["max_rel_logit_error"] <= bound
    if not entry["within_bound"]:
        raise ConversionError(f"{name}: logits differ from Keras by {entry['max_rel_logit_error']:.2e} "
                              f"(bound {bound}); not written.")


def note_calibration(name: str, entry: dict, count: int) -> None:
    """Records how many clips calibrated an int8 artifact, with a logged warning when too few."""
    from absl import logging

    entry["calibration_clips"] = int(count)
    if warning := calibration_note(count):
        entry["warning"] = warning
        logging.warning("%s: %s.", name, warning)


def write_report(out_dir: str, report: dict) -> str:
    """Writes the report, merged with the one already in `out_dir`.

    An export only adds or replaces what it writes: the artifacts of an earlier export into the
    same folder stay, and so do their report entries (under their file name where this export
    writes the same precision in another file, e.g. another input form). Nothing is deleted.

    Returns:
        The report's path.
    """
    import json

    path = os.path.join(out_dir, REPORT_FILES[report["format"]])
    merged = dict(report["artifacts"])
    if os.path.isfile(path):
        try:
            with open(path) as handle:
                earlier = json.load(handle).get("artifacts", {})
        except (ValueError, AttributeError):
            earlier = {}
        written = {entry["file"] for entry in report["artifacts"].values()}
        for key, entry in earlier.items():
            name = entry.get("file") if isinstance(entry, dict) else None
            if name and name not in written and os.path.isfile(os.path.join(out_dir, name)):
                merged[key if key not in merged else name] = entry
    files.write_json(path, {**report, "artifacts": merged})
    return path


def report_entry(path: str) -> tuple[dict, dict] | tuple[None, None]:
    """(conversion report, its entry for this artifact) from the report beside an artifact, or
    (None, None) when no report there lists it."""
    import json

    directory, name = os.path.split(os.path.abspath(path))
    for report_name in REPORT_FILES.values():
        report_path = os.path.join(directory, report_name)
        if not os.path.isfile(report_path):
            continue
        with open(report_path) as handle:
            report = json.load(handle)
        entry = next((e for e in report.get("artifacts", {}).values() if e.get("file") == name), None)
        if entry is not None:
            return report, entry
    return None, None


NOISE_EXAMPLES = 8
# Below this many calibration clips the reports warn that int8 ranges may be poorly estimated.
MIN_CALIBRATION_CLIPS = 50


def spread(examples, count: int) -> list:
    """At most `count` of `examples`, evenly spaced over the list: lists sorted by class or
    speaker (folders, CSVs) give every class its share instead of the first ones only.

    Example:
    >>> spread(list("aabbcc"), 3)
    ['a', 'b', 'c']
    """
    if len(examples) <= count:
        return list(examples)
    return [examples[i] for i in np.linspace(0, len(examples) - 1, count).round().astype(int)]


def held_out_inputs(examples, front_end, waveform: bool, count: int):
    """Inputs from the pipeline: one crop per clip (log-mel, and the crop's raw samples).

    A clip shorter than the crop is used as training and classification use it: its log-mel
    repeats the last frame (`clip_features`), its raw samples are padded to the crop with the end
    marker, as `keras_airn.inference.runtime` feeds a waveform-input model (`inference.artifacts.pad_to_input`).

    Args:
        examples: clips to use, or None for uniform noise (speed and op checks only; no labels).
        front_end: settings.
        waveform: also return the raw crops.
        count: at most this many clips (`spread` over `examples`).

    Returns:
        (log-mel inputs (N, T, F, 1), raw crops (N, samples) or None, labels (N,) or None).
    """
    from keras_airn.data.audio import read_audio
    from keras_airn.inference.artifacts import pad_to_input
    from keras_airn.data.features import clip_features, crop_starts

    crop = front_end.clip_size - 1
    if not examples:
        noise = np.random.default_rng(0).uniform(-0.3, 0.3, (min(count, NOISE_EXAMPLES), crop)).astype(np.float32)
        features = np.stack([clip_features(w, 0, front_end).numpy()[..., None] for w in noise])
        return features, noise if waveform else None, None
    inputs, waves, labels = [], [], []
    for example in spread(examples, count):
        stop = example.stop if example.stop >= 0 else None
        audio = read_audio(example.path, front_end.sample_rate, resampler=front_end.resampler)[example.start : stop]
        start = int(crop_starts(audio.shape[0], front_end, 1)[0])
        inputs.append(clip_features(audio, start, front_end).numpy()[..., None])
        waves.append(pad_to_input(audio[start : start + crop], crop))
        labels.append(example.label)
    return np.stack(inputs), np.stack(waves) if waveform else None, np.array(labels)


def calibration_and_evaluation(examples, calibration_examples, front_end, *, waveform: bool = False,
                               num_calibration: int = CALIBRATION_CLIPS, num_eval: int = EVAL_CLIPS,
                               int8: bool = False,
                               random_calibration: bool = False):
    """The inputs that calibrate int8 and the held-out inputs parity is measured on.

    Calibration uses `calibration_examples` (the training split, typically); without them the
    first half of `examples` calibrates and the rest is measured; without either, noise, which
    int8 refuses unless `random_calibration`. Calibration always ends with silent and zero-padded
    windows of its clips (`with_silent_windows`: exact zeros are outside the range of audio).

    Returns:
        ((calibration inputs, crops, labels of its clips), (evaluation inputs, crops, labels)) as
        `held_out_inputs`; crops are always returned.

    Raises:
        ConversionError: int8 without data and without `random_calibration`.
    """
    if int8 and not (examples or calibration_examples) and not random_calibration:
        raise ConversionError(INT8_NEEDS_DATA)
    if calibration_examples:
        calibration = held_out_inputs(calibration_examples, front_end, True, num_calibration)
        evaluation = held_out_inputs(examples, front_end, True, num_eval)
    elif examples:
        split = len(examples) // 2 if len(examples) > 1 else 1
        calibration = held_out_inputs(examples[:split], front_end, True, num_calibration)
        evaluation = held_out_inputs(examples[split:] or examples, front_end, True, num_eval)
    else:
        calibration = evaluation = held_out_inputs(None, front_end, True, num_eval)
    return with_silent_windows(calibration, front_end), evaluation


@dataclasses.dataclass
class ExportInputs:
    """What an exporter feeds its artifacts: evaluation inputs in the artifact's form, the Keras
    logits on them, their labels (or None), the int8 calibration inputs and how many clips they
    come from, `silent_windows` of the evaluation clips ({name: (inputs, Keras logits)}), and the
    labels of the calibration clips (the first inputs; None when unlabelled)."""

    evaluation: np.ndarray
    reference: np.ndarray
    labels: np.ndarray | None
    calibration: np.ndarray
    calibration_clips: int
    silent: dict[str, tuple[np.ndarray, np.ndarray]]
    calibration_labels: np.ndarray | None = None


def export_inputs(model, front_end, examples, calibration_examples, *, waveform: bool, num_calibration: int,
                  num_eval: int, int8: bool, random_calibration: bool) -> ExportInputs:
    """`calibration_and_evaluation` in the artifact's input form, with the Keras reference logits."""
    calibration, (spectrograms, waves, labels) = calibration_and_evaluation(
        examples, calibration_examples, front_end, waveform=waveform, num_calibration=num_calibration,
        num_eval=num_eval, int8=int8, random_calibration=random_calibration)
    clips = len(calibration[2]) if calibration[2] is not None else min(num_eval, NOISE_EXAMPLES)
    silent = {name: (windows if waveform else features, model.predict(features, verbose=0))
              for name, (features, windows) in silent_windows(waves, front_end, num_eval).items()}
    return ExportInputs(waves if waveform else spectrograms, model.predict(spectrograms, verbose=0), labels,
                        calibration[1] if waveform else calibration[0], clips, silent, calibration[2])


def calibration_note(count: int) -> str | None:
    """A warning when int8 was calibrated on fewer than `MIN_CALIBRATION_CLIPS` clips, else None."""
    if count >= MIN_CALIBRATION_CLIPS:
        return None
    return f"calibrated on {count} clips (fewer than {MIN_CALIBRATION_CLIPS}): the int8 ranges may be poorly estimated"


def parity(logits: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict:
    """Max relative logit error, top-1 agreement with the reference, and accuracy if labelled."""
    result = {
        "max_rel_logit_error": float(np.abs(logits - reference).max() / np.abs(reference).max()),
        "top1_agreement": float(np.mean(logits.argmax(1) == reference.argmax(1))),
    }
    if labels is not None:
        result["top1_accuracy"] = float(np.mean(logits.argmax(1) == labels))
        result["reference_top1_accuracy"] = float(np.mean(reference.argmax(1) == labels))
    return result
