"""The README's Python quick start, run on a generated "own audio" folder, with its figures.

Generates `runs/own/my_sounds/<label>/...` (44.1 kHz stereo and 48 kHz 24-bit WAV, 22.05 kHz
FLAC, 8 kHz OGG; `python -m train.demo_data --layout folder`), fine-tunes the `make demo` model
on it with `AudioClassifier`, evaluates, exports a waveform-input int8 TFLite model and classifies
a file. Prints accuracy, int8 agreement and the time of each step.

Usage: .venv/bin/python scripts/own_audio_demo.py [--pretrained runs/demo] [--out runs/own]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_airn as ka  # noqa: E402
from keras_airn.machine import machine_description  # noqa: E402
from train.demo_data import make_own_folder  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default="runs/demo", help="Run or preset folder to fine-tune from.")
    parser.add_argument("--out", default="runs/own", help="Output folder.")
    parser.add_argument("--clips_per_class", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0, help="Clip length (the demo model's crop: 2.56 s).")
    args = parser.parse_args()
    folder = os.path.join(args.out, "my_sounds")
    if not os.path.isdir(folder):
        make_own_folder(folder, args.clips_per_class, seconds=args.seconds)
    times = {}

    start = time.perf_counter()
    splits = ka.read_folder(folder)
    classifier = ka.AudioClassifier.from_preset(args.pretrained, labels=splits["train"].label_names)
    classifier.fit(splits["train"], out_dir=os.path.join(args.out, "run"), resume=True, recipe="release",
                   epochs=args.epochs,
                   learning_rate=0.01, lr_steps=(args.epochs * 3 // 4,), precise_bn_batches=20)
    times["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    metrics = classifier.evaluate(splits["test"])
    times["evaluate"] = time.perf_counter() - start

    start = time.perf_counter()
    report = classifier.export(os.path.join(args.out, "export"), precision=["fp32", "int8"], waveform_input=True,
                               calibration=splits["train"], evaluation=splits["test"])
    times["export"] = time.perf_counter() - start

    example = splits["test"].examples[0]
    start = time.perf_counter()
    result = classifier.classify_file(example.path, top_k=2)
    times["classify_file"] = time.perf_counter() - start

    print(f"Machine: {machine_description()}")
    print(f"{folder}: {len(splits['train'].examples)} train / {len(splits['test'].examples)} test clips, "
          f"labels {splits['train'].label_names}")
    print(f"fine-tuned from {args.pretrained}: test top-1 {metrics['top1']:.3f}, top-5 {metrics['top5']:.3f}, "
          f"mAP {metrics['mAP']:.3f} (chance {1 / len(classifier.labels):.3f})")
    for precision, entry in report["artifacts"].items():
        print(f"waveform {precision}: {entry['bytes']:,} bytes, top-1 agreement {entry['top1_agreement']:.3f}, "
              f"accuracy {entry['top1_accuracy']:.3f} (Keras {entry['reference_top1_accuracy']:.3f}), "
              f"max rel. logit error {entry['max_rel_logit_error']:.1e}")
    print(f"classify_file({os.path.relpath(example.path, folder)}): {result['overall']} "
          f"(true: {splits['test'].label_names[example.label]})")
    print("seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in times.items()))


if __name__ == "__main__":
    main()
