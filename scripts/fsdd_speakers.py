"""FSDD's speakers as recordings: level, DC offset and noise floor of each, and where a run errs.

For each speaker, over every tenth recording: median duration, RMS level and DC offset, and the
log-mel (`host_log_mel`, VGG-Sound front-end, natural-log units) of the quietest frame in every
12th mel band, averaged. With --run and --speaker, the run's top-1 on that speaker's 500
recordings as they are and with each recording's DC offset removed, and its confusion matrix.

Usage:
  .venv/bin/python scripts/fsdd_speakers.py --fsdd_dir free-spoken-digit-dataset \\
      [--run build/fsdd_loso/runs/speaker_nicolas_b0_small_data --speaker nicolas]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras_airn as ka  # noqa: E402
from keras_airn.errors import KerasAirnError  # noqa: E402
from keras_airn.data.features import FrontEnd, host_log_mel  # noqa: E402
from fsdd_benchmark import recordings  # noqa: E402  (scripts/ is on the path when this file runs)

RATE = FrontEnd.sample_rate


def recordings_by_speaker(fsdd_dir: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """{speaker: (paths, digits)} of the clone's recordings, sorted by name."""
    by_speaker = {}
    for path, digit, speaker, _ in recordings(fsdd_dir):
        by_speaker.setdefault(speaker, []).append((path, int(digit)))
    return {speaker: ([path for path, _ in rows], np.array([digit for _, digit in rows]))
            for speaker, rows in sorted(by_speaker.items())}


def speaker_table(speakers: dict) -> None:
    bands = slice(0, FrontEnd.n_mels, 12)
    print(f"| speaker | duration s | RMS dB | DC offset | quietest frame, mel bands {bands.start}, "
          f"{bands.start + bands.step}, ... |\n|---|---|---|---|---|")
    for speaker, (paths, _) in speakers.items():
        waves = [ka.read_audio(path, RATE) for path in paths[::10]]
        floor = np.mean([host_log_mel(wave, FrontEnd()).min(axis=0)[bands] for wave in waves], axis=0)
        print(f"| {speaker} | {np.median([len(w) / RATE for w in waves]):.2f} | "
              f"{np.median([10 * np.log10(np.mean(w**2) + 1e-12) for w in waves]):.1f} | "
              f"{np.median([w.mean() for w in waves]):.4f} | {' '.join(f'{v:.1f}' for v in floor)} |")


def run_on_speaker(paths: list[str], digits: np.ndarray, classifier: ka.AudioClassifier, speaker: str) -> None:
    waves = [ka.read_audio(path, RATE) for path in paths]
    for name, batch in (("as recorded", waves), ("DC offset removed", [w - w.mean() for w in waves])):
        predicted = classifier.predict(batch, batch_size=64, verbose=0).argmax(axis=1)
        print(f"{speaker}, {name}: top-1 {np.mean(predicted == digits):.3f}")
        if name == "as recorded":
            confusion = np.zeros((10, 10), int)
            np.add.at(confusion, (digits, predicted), 1)
            print("confusion (rows: digit said, columns: predicted)\n", confusion)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd_dir", required=True, help="A clone of free-spoken-digit-dataset.")
    parser.add_argument("--run", help="A train.finetune run folder to evaluate on --speaker.")
    parser.add_argument("--speaker", help="The held-out speaker of --run.")
    args = parser.parse_args()
    if bool(args.run) != bool(args.speaker):
        sys.exit("error: --run and --speaker go together.")
    speakers = recordings_by_speaker(args.fsdd_dir)
    if args.speaker and args.speaker not in speakers:
        sys.exit(f"error: no speaker {args.speaker!r} in {args.fsdd_dir}; it has {', '.join(speakers)}.")
    try:
        classifier = ka.AudioClassifier.from_preset(args.run) if args.run else None
    except KerasAirnError as error:
        sys.exit(f"error: {error}")
    speaker_table(speakers)
    if classifier is not None:
        run_on_speaker(*speakers[args.speaker], classifier, args.speaker)


if __name__ == "__main__":
    main()
