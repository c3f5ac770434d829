"""Classify audio files with a .tflite (spectrogram or waveform input), .onnx, OpenVINO IR (.xml) or .keras model.

A thin shell over `keras_airn.inference.runtime.WindowScorer`. Audio of any format, rate and channel count
is read as training reads it (`--resample=false` rejects files at another rate). Files longer
than the model's clip are scanned in windows (`--hop_seconds` apart, the last one
aligned to the end), giving labels over time and an overall result (mean of window scores).

Usage:
  python -m edge.classify --model export/airn_b0_deploy_waveform_fp32.tflite --audio a.wav b.flac
  python -m edge.classify --model runs/demo/model_deploy.keras --audio long.wav --hop_seconds 1 --json
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn import cli  # noqa: E402

MODEL = flags.DEFINE_string("model", None, "A .tflite, .onnx, OpenVINO IR .xml or .keras model.")
AUDIO = cli.DEFINE_paths("audio", None, "Audio files (WAV, FLAC, OGG, MP3).")
TOP_K = flags.DEFINE_integer("top_k", 3, "Labels to show per window.")
HOP = flags.DEFINE_float("hop_seconds", None, "Window hop for long files (default: half a clip).")
LABELS = flags.DEFINE_string("labels", None, "labels.json / labels.txt (default: beside the model).")
HEAD = flags.DEFINE_string("head", None, "A trainable model's head file (edge.personalise --out); its labels are used.")
RESAMPLE = flags.DEFINE_bool("resample", True, "Resample files at another rate (False: reject them).")
FRONT_END = flags.DEFINE_string("front_end", None, "front_end.json or a release dataset name (default: the "
                                "front_end.json beside the model).")
JSON_OUT = flags.DEFINE_bool("json", False, "Print JSON instead of a table.")


def main(argv):
    import sys

    from keras_airn.inference.runtime import WindowScorer, ClassifyError, labels_beside, summarize

    audio_files = (AUDIO.value or []) + argv[1:]  # `--audio a.wav b.wav` and `--audio=a.wav,b.wav` alike
    if not MODEL.value or not audio_files:
        raise app.UsageError("--model and --audio are required.")
    if TOP_K.value < 1:
        raise app.UsageError(f"--top_k must be at least 1, got {TOP_K.value}.")
    classifier = WindowScorer.from_file(MODEL.value, FRONT_END.value, HEAD.value)
    classifier.hop_samples(HOP.value)  # a bad hop is one line for the command, not one per file
    labels = classifier.labels or labels_beside(MODEL.value, classifier.num_classes, LABELS.value)
    results, failed = {}, {}
    for path in audio_files:
        try:
            windows = classifier.classify_file(path, HOP.value, RESAMPLE.value)
        except ClassifyError as error:  # report it, go on with the other files
            if len(audio_files) == 1:
                raise
            failed[path] = str(error)
            print(f"error: {error}", file=sys.stderr)
            continue
        results[path] = summarize(windows, labels, TOP_K.value)
    if JSON_OUT.value:
        print(json.dumps(results, indent=1))
    else:
        for path, result in results.items():
            print(f"{path}: " + ", ".join(f"{label} {score:.2f}" for label, score in result["overall"]))
            if len(result["windows"]) > 1:
                for window in result["windows"]:
                    print(f"  {window['start']:7.2f}-{window['end']:7.2f} s: "
                          + ", ".join(f"{label} {score:.2f}" for label, score in window["top"]))
    if failed:
        raise ClassifyError(f"{len(failed)} of {len(audio_files)} file(s) could not be classified (listed above).")


if __name__ == "__main__":
    cli.run(main, positional="audio files")
