"""Records the release's loader outputs as test data (tests/data/release_loaders.npz).

Runs, in the environment the release pins (Python 3.7, librosa 0.9.2, resampy 0.4.2, numpy 1.21,
torch 1.7.1), its UrbanSound8K feature function on a recording shorter than a clip, and the
`librosa.load(path, sr=16000, mono=True)` every loader starts with, on files at 8, 24 and
44.1 kHz (librosa 0.9.2 resamples with resampy's `kaiser_best`). Nothing of the release is
copied: pass its slowfast/datasets folder.

  python3.7 -m venv env && env/bin/pip install torch==1.7.1 librosa==0.9.2 resampy==0.4.2 numpy==1.21.6 soundfile
  env/bin/python scripts/record_release_loaders.py --release_datasets DIR --out tests/data/release_loaders.npz
"""

import argparse
import importlib
import os
import sys
import tempfile
import types

import librosa
import numpy as np
import resampy
import soundfile


def load_release(folder, name):
    package = types.ModuleType("release_datasets")
    package.__path__ = [folder]
    sys.modules["release_datasets"] = package
    return importlib.import_module("release_datasets." + name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release_datasets", required=True, help="The release's slowfast/datasets folder.")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = np.random.RandomState(1)
    record = {"librosa_version": np.array(librosa.__version__), "resampy_version": np.array(resampy.__version__)}

    # UrbanSound8K: a 0.3 s recording, a 0.5 s clip, 20 ms windows, 10 ms hops at 16 kHz.
    us8k = load_release(args.release_datasets, "audio_loader_urbansound8k")
    audio = (0.3 * rng.standard_normal(4800) * np.linspace(1.0, 0.2, 4800)).astype(np.float32)
    cfg = types.SimpleNamespace(AUDIO_DATA=types.SimpleNamespace(SAMPLING_RATE=16000, CLIP_SECS=0.5,
                                                                 WINDOW_LENGTH=20, HOP_LENGTH=10))
    record["us8k_short_audio"] = audio
    record["us8k_short_features"] = us8k._extract_sound_feature(cfg, audio, 0, 7999)[0].numpy()

    # librosa.load's resampling to 16 kHz (float32 WAV files, written and read exactly).
    folder = tempfile.mkdtemp()
    for rate in (8000, 24000, 44100):
        samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(0.4 * rate)) / rate)
                   + 0.1 * rng.standard_normal(int(0.4 * rate))).astype(np.float32)
        path = os.path.join(folder, "%d.wav" % rate)
        soundfile.write(path, samples, rate, subtype="FLOAT")
        record["resample_in_%d" % rate] = samples
        record["resample_out_%d" % rate] = librosa.load(path, sr=16000, mono=True)[0]
    np.savez_compressed(args.out, **record)
    print("%s: %s" % (args.out, {k: v.shape for k, v in record.items()}))


if __name__ == "__main__":
    main()
