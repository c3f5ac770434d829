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
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras_airn as ka  # noqa: E402
from keras_airn.features import FrontEnd, host_log_mel  # noqa: E402

RATE = FrontEnd.sample_rate


def recordings_of(fsdd_dir: str, speaker: str) -> tuple[list[str], np.ndarray]:
    """(paths, digits) of one speaker's recordings, sorted by name."""
    paths = sorted(glob.glob(os.path.join(fsdd_dir, "recordings", f"*_{speaker}_*.wav")))
    return paths, np.array([int(os.path.basename(path).split("_")[0]) for path in paths])


def speaker_table(fsdd_dir: str) -> None:
    speakers = sorted({os.path.basename(path).split("_")[1]
                       for path in glob.glob(os.path.join(fsdd_dir, "recordings", "*.wav"))})
    bands = slice(0, FrontEnd.n_mels, 12)
    print(f"| speaker | duration s | RMS dB | DC offset | quietest frame, mel bands {bands.start}, "
          f"{bands.start + bands.step}, ... |\n|---|---|---|---|---|")
    for speaker in speakers:
        waves = [ka.read_audio(path, RATE) for path in recordings_of(fsdd_dir, speaker)[0][::10]]
        floor = np.mean([host_log_mel(wave, FrontEnd()).min(axis=0)[bands] for wave in waves], axis=0)
        print(f"| {speaker} | {np.median([len(w) / RATE for w in waves]):.2f} | "
              f"{np.median([10 * np.log10(np.mean(w**2) + 1e-12) for w in waves]):.1f} | "
              f"{np.median([w.mean() for w in waves]):.4f} | {' '.join(f'{v:.1f}' for v in floor)} |")


def run_on_speaker(fsdd_dir: str, run: str, speaker: str) -> None:
    classifier = ka.AudioClassifier.from_preset(run)
    paths, digits = recordings_of(fsdd_dir, speaker)
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
    if not os.path.isdir(os.path.join(args.fsdd_dir, "recordings")):
        sys.exit(f"error: {args.fsdd_dir} has no recordings/ folder: pass a clone of free-spoken-digit-dataset.")
    if bool(args.run) != bool(args.speaker):
        sys.exit("error: --run and --speaker go together.")
    speaker_table(args.fsdd_dir)
    if args.run:
        run_on_speaker(args.fsdd_dir, args.run, args.speaker)


if __name__ == "__main__":
    main()
