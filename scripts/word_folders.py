"""Generated "own audio" folders of different make, for choosing and checking the small-data
defaults (docs/real_audio.md, "How long small_data trains").

Each make differs in what is said or sounded, by how many voices, over which background and in
which file formats; each writes `OUT/<make>/{train,test}/<label>/<clip>` and nothing else.

| make | classes | voices | background | formats | train / test per class |
|---|---|---|---|---|---|
| `words6` | yes no up down left right | 3 | faint white noise | 16 kHz WAV | 24 / 16 |
| `sounds5` | tones, chirps, noise bands, clicks | - | hum and white noise | 4 | 24 / 12 |
| `commands8` | go stop on off play pause next back | 4 | pink noise, 0-15 dB SNR | 4 | 20 / 10 |
| `commands8_320` | as `commands8` (other draws) | 4 | pink noise, 0-15 dB SNR | 4 | 40 / 10 |
| `words6_8voices` | red green blue black white pink | 8 | pink noise and hum, 5-20 dB SNR | 5 | 24 / 12 |

Usage: .venv/bin/python scripts/word_folders.py --out_dir build/folders [--makes words6,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import soundfile
from scipy import signal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from train.demo_data import OWN_FORMATS, _speak, make_word_folder, synth_clip  # noqa: E402

# OWN_FORMATS and a fifth: 16 kHz 8-bit unsigned WAV.
FIVE_FORMATS = OWN_FORMATS + ((".wav", 16000, 1, "PCM_U8"),)
MAKES = {
    "sounds5": dict(labels=("tone_low", "tone_high", "chirp_up", "chirp_down", "clicks"), voices=(),
                    snr_db=(10, 30), hum=True, formats=OWN_FORMATS, counts=(24, 12), seconds=1.5),
    "commands8": dict(labels=("go", "stop", "on", "off", "play", "pause", "next", "back"),
                      voices=("en-us", "en-gb-scotland", "en-029", "en+f3"), snr_db=(0, 15), hum=False,
                      formats=OWN_FORMATS, counts=(20, 10), seconds=1.2),
    "commands8_320": dict(labels=("go", "stop", "on", "off", "play", "pause", "next", "back"),
                          voices=("en-us", "en-gb-scotland", "en-029", "en+f3"), snr_db=(0, 15), hum=False,
                          formats=OWN_FORMATS, counts=(40, 10), seconds=1.2, seed=1),
    "words6_8voices": dict(labels=("red", "green", "blue", "black", "white", "pink"),
                           voices=("en", "en-us", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+f2",
                                   "en+m4", "en-029+f4"),
                           snr_db=(5, 20), hum=True, formats=FIVE_FORMATS, counts=(24, 12), seconds=1.0),
}


def pink_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls 3 dB an octave, scaled to unit RMS."""
    spectrum = np.fft.rfft(rng.normal(size=size))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    noise = np.fft.irfft(spectrum, size)
    return noise / (noise.std() + 1e-12)


def clicks(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A train of short decaying clicks at a random rate: a sound class no other make has."""
    clip = np.zeros(int(seconds * rate))
    period = int(rate / rng.uniform(4, 12))
    burst = rng.normal(size=rate // 200) * np.exp(-np.arange(rate // 200) / (rate / 2000))
    for start in range(int(rng.integers(0, period)), clip.size - burst.size, period):
        clip[start:start + burst.size] += burst
    return clip / (np.abs(clip).max() + 1e-9)


def event(label: str, make: dict, rate: int, rng: np.random.Generator, workdir: str) -> np.ndarray:
    """One clip's foreground at unit peak, `make["seconds"]` long (a word at a random offset)."""
    length = int(make["seconds"] * rate)
    if not make["voices"]:
        return clicks(make["seconds"], rate, rng) if label == "clicks" else synth_clip(label, make["seconds"], rate, rng)
    spoken = _speak(label, rate, rng, workdir, voices=make["voices"])[:length]
    clip = np.zeros(length)
    offset = int(rng.integers(0, length - spoken.size + 1))
    clip[offset:offset + spoken.size] = spoken
    return clip


def background(length: int, rate: int, make: dict, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (and mains hum at 50 or 60 Hz with harmonics) at unit RMS."""
    noise = pink_noise(length, rng)
    if make["hum"]:
        t = np.arange(length) / rate
        mains = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3, 4))
        noise = noise + rng.uniform(0.5, 2.0) * hum / hum.std()
    return noise / noise.std()


def write_make(out_dir: str, name: str, seed: int = 0) -> str:
    """Writes the folder of make `name` (see MAKES; `words6` is `train.demo_data`'s word folder).

    Returns:
        The folder written.
    """
    folder = os.path.join(out_dir, name)
    if name == "words6":
        return make_word_folder(folder, 24, 16, seed=5)
    make, rate = MAKES[name], 16000
    rng = np.random.default_rng(seed + make.get("seed", 0))
    with tempfile.TemporaryDirectory() as workdir:
        for split, count in zip(("train", "test"), make["counts"]):
            for label in make["labels"]:
                os.makedirs(os.path.join(folder, split, label), exist_ok=True)
                for i in range(count):
                    foreground = event(label, make, rate, rng, workdir)
                    rms = np.sqrt(np.mean(foreground**2)) + 1e-9
                    snr_db = rng.uniform(*make["snr_db"])
                    clip = foreground + rms * 10 ** (-snr_db / 20) * background(foreground.size, rate, make, rng)
                    clip *= rng.uniform(0.2, 0.9) / (np.abs(clip).max() + 1e-9)
                    extension, out_rate, channels, subtype = make["formats"][i % len(make["formats"])]
                    clip = signal.resample_poly(clip, out_rate, rate) if out_rate != rate else clip
                    data = np.repeat(clip[:, None], channels, axis=1) if channels > 1 else clip
                    path = os.path.join(folder, split, label, f"{label}{i:02d}{extension}")
                    soundfile.write(path, np.clip(data, -1, 1).astype(np.float32), out_rate, subtype=subtype)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--makes", default=",".join(["words6", *MAKES]))
    args = parser.parse_args()
    for name in args.makes.split(","):
        if name != "words6" and name not in MAKES:
            raise SystemExit(f"--makes: unknown make {name!r}; known: words6, {', '.join(MAKES)}")
        print(write_make(args.out_dir, name))


if __name__ == "__main__":
    main()
