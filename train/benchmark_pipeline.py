"""Throughput of the tf.data front-end against the release's librosa front-end, in one run.

Both decode the same files and compute the 512 x 128 log-mel of a 5.119 s crop, for two kinds
of file: 16 kHz mono 16-bit WAV (no resampling) and 44.1 kHz stereo 16-bit WAV (mixed to mono
and resampled with soxr_hq by both). Each side is held to one core (TF: one intra/inter-op
thread and a one-thread tf.data pool), so the figures are clips per second per core.

Usage: python -m train.benchmark_pipeline [--clips 64] [--rounds 3]
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one core for librosa's numpy/BLAS too

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

CLIPS = flags.DEFINE_integer("clips", 64, "Clips to process per round.")
ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating rounds of each front-end.")
SECONDS = flags.DEFINE_float("seconds", 10.0, "Length of each generated recording.")


def librosa_features(path: str, front_end) -> np.ndarray:
    """The release's front-end: librosa.load, centred STFT, HTK mel, log."""
    import librosa

    samples, _ = librosa.load(path, sr=front_end.sample_rate, mono=True)
    start = np.random.randint(0, max(1, len(samples) - front_end.clip_size))
    samples = samples[start : start + front_end.clip_size - 1]
    spectrum = librosa.stft(samples, n_fft=front_end.n_fft, hop_length=front_end.hop_length,
                            win_length=front_end.win_length, window="hann", pad_mode="constant")
    basis = librosa.filters.mel(sr=front_end.sample_rate, n_fft=front_end.n_fft, n_mels=front_end.n_mels,
                                htk=True, norm=None)
    return np.log(basis @ np.abs(spectrum) + 1e-6).T


def main(argv):
    del argv
    import soundfile
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from keras_airn.data.datasets import Example
    from keras_airn.data.features import FRONT_ENDS
    from keras_airn.machine import machine_description
    from keras_airn.training.pipeline import train_dataset

    front_end = FRONT_ENDS["vggsound"]
    rng = np.random.default_rng(0)
    kinds = {"16 kHz mono WAV": (front_end.sample_rate, 1), "44.1 kHz stereo WAV (resampled)": (44100, 2)}
    rates = {(kind, side): [] for kind in kinds for side in ("tf.data", "librosa")}
    with tempfile.TemporaryDirectory() as directory:
        for kind, (rate, channels) in kinds.items():
            paths = []
            for index in range(CLIPS.value):
                path = os.path.join(directory, f"{rate}_{channels}_{index}.wav")
                audio = rng.uniform(-0.5, 0.5, (int(SECONDS.value * rate), channels)).astype(np.float32)
                soundfile.write(path, audio, rate, subtype="PCM_16")
                paths.append(path)
            dataset, _ = train_dataset([Example(p, 0) for p in paths], front_end, batch_size=1, seed=0,
                                       first_epoch=0, epochs=1, augment=None)
            options = tf.data.Options()
            options.threading.private_threadpool_size = 1
            options.autotune.cpu_budget = 1
            dataset = dataset.with_options(options)
            for _ in dataset.take(2):  # warm-up: tracing
                pass
            librosa_features(paths[0], front_end)
            for _ in range(ROUNDS.value):
                start = time.perf_counter()
                count = sum(1 for _ in dataset)
                rates[kind, "tf.data"].append(count / (time.perf_counter() - start))
                start = time.perf_counter()
                for path in paths:
                    librosa_features(path, front_end)
                rates[kind, "librosa"].append(len(paths) / (time.perf_counter() - start))
    print(f"Machine: {machine_description()}")
    print(f"{CLIPS.value} files of {SECONDS.value:.0f} s per kind, 5.119 s crop -> 512 x 128 log-mel, one core "
          f"each, {ROUNDS.value} alternating rounds")
    print("| files | tf.data clips/s per core | librosa clips/s per core | tf.data / librosa (median of rounds) |")
    print("|---|---:|---:|---:|")
    for kind in kinds:
        ours, theirs = np.array(rates[kind, "tf.data"]), np.array(rates[kind, "librosa"])
        print(f"| {kind} | {np.median(ours):.1f} | {np.median(theirs):.1f} | {np.median(ours / theirs):.2f}x |")


if __name__ == "__main__":
    app.run(main)
