"""Small labelled audio sets made on the spot: the VGG-Sound layout, and "your own audio" folders.

Classes: low and high tones with harmonics, rising and falling chirps, low and high noise
bands, and, where espeak-ng is installed, spoken words. Every clip has a random pitch, level,
onset and background noise, so the classes must be learned, not memorised.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile
from scipy import signal
from tqdm.auto import tqdm

SYNTH_CLASSES = ("tone_low", "tone_high", "chirp_up", "chirp_down", "noise_low", "noise_high")
SPOKEN_WORDS = ("yes", "no", "seven")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synth_clip(name: str, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One normalised clip of a synthetic class (see SYNTH_CLASSES) with random parameters."""
    t = np.arange(int(seconds * rate)) / rate
    if name.startswith("tone"):
        base = rng.uniform(200, 450) if name == "tone_low" else rng.uniform(1800, 3200)
        sound = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
    elif name.startswith("chirp"):
        low, high = rng.uniform(200, 600), rng.uniform(3000, 6000)
        f0, f1 = (low, high) if name == "chirp_up" else (high, low)
        period = rng.uniform(0.4, 1.0)
        sound = signal.chirp(t % period, f0, period, f1)
    else:
        band = (100, 900) if name == "noise_low" else (3500, 7000)
        sos = signal.butter(6, band, btype="bandpass", fs=rate, output="sos")
        sound = signal.sosfilt(sos, rng.normal(size=t.size))
    return sound / (np.abs(sound).max() + 1e-9)


DEMO_VOICES = ("en", "en-us", "en-gb")


def _speak(word: str, rate: int, rng: np.random.Generator, workdir: str, voices=DEMO_VOICES) -> np.ndarray:
    path = os.path.join(workdir, "word.wav")
    pitch, speed = int(rng.integers(20, 80)), int(rng.integers(120, 200))
    voice = str(rng.choice(list(voices)))
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", path, word],
        check=True,
        capture_output=True,
    )
    audio, source_rate = soundfile.read(path, dtype="float64")
    audio = signal.resample_poly(audio, rate, source_rate)
    return audio / (np.abs(audio).max() + 1e-9)


def make_demo_set(
    out_dir: str,
    clips_per_class: int = 24,
    seconds: float = 5.5,
    sample_rate: int = 16000,
    test_fraction: float = 0.25,
    seed: int = 0,
    speech: bool | None = None,
    flac_every: int = 5,
) -> tuple[str, str, list[str]]:
    """Writes the demo set: `out_dir/audio/*.{wav,flac}` and `out_dir/vggsound.csv`.

    Args:
        out_dir: destination.
        clips_per_class: clips of each class.
        seconds: clip length.
        sample_rate: Hz.
        test_fraction: share of each class in the "test" split.
        seed: RNG seed.
        speech: include spoken words (default: when espeak-ng is installed).
        flac_every: every n-th clip is written as FLAC, to exercise both decoders.

    Returns:
        (csv path, audio directory, label names).
    """
    rng = np.random.default_rng(seed)
    speech = espeak_available() if speech is None else speech
    classes = list(SYNTH_CLASSES) + ([f"speech_{w}" for w in SPOKEN_WORDS] if speech else [])
    audio_dir = os.path.join(out_dir, "audio")
    os.makedirs(audio_dir, exist_ok=True)
    rows = []
    num_test = max(1, int(round(clips_per_class * test_fraction)))
    with tempfile.TemporaryDirectory() as workdir:
        jobs = [(c, i) for c in classes for i in range(clips_per_class)]
        for number, (name, index) in enumerate(tqdm(jobs, desc="demo audio", unit="clip", leave=False)):
            length = int(seconds * sample_rate)
            clip = rng.normal(0, rng.uniform(0.002, 0.02), length)  # background noise
            if name.startswith("speech_"):
                event = _speak(name.removeprefix("speech_"), sample_rate, rng, workdir)
                for _ in range(int(rng.integers(2, 4))):  # the word said a few times
                    onset = int(rng.integers(0, max(1, length - event.size)))
                    clip[onset : onset + event.size] += rng.uniform(0.3, 0.8) * event[: length - onset]
            else:
                event = synth_clip(name, seconds, sample_rate, rng)
                clip += rng.uniform(0.2, 0.6) * event
            clip = np.clip(clip, -1.0, 1.0).astype(np.float32)
            youtube_id = f"demo{number:05d}{name}"
            start = int(rng.integers(0, 300))
            extension = ".flac" if number % flac_every == flac_every - 1 else ".wav"
            path = os.path.join(audio_dir, f"{youtube_id}_{start:06d}{extension}")
            soundfile.write(path, clip, sample_rate, subtype="PCM_16")
            split = "test" if index < num_test else "train"
            rows.append((youtube_id, start, name.replace("_", " "), split))
    csv_path = os.path.join(out_dir, "vggsound.csv")
    with open(csv_path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return csv_path, audio_dir, sorted(name.replace("_", " ") for name in classes)


# "Your own audio" as users have it: a folder per label, files in the formats and rates people
# record in. Labels -> the synthetic sound behind them (all below 4 kHz, so 8 kHz files keep them).
OWN_CLASSES = {"bell": "tone_high", "hum": "tone_low", "rumble": "noise_low", "whistle": "chirp_up"}
# (extension, rate, channels, soundfile subtype), cycled over the clips of each class.
OWN_FORMATS = ((".wav", 44100, 2, "PCM_16"), (".flac", 22050, 1, "PCM_16"), (".ogg", 8000, 1, "VORBIS"),
               (".wav", 48000, 1, "PCM_24"))


def write_own_clip(stem: str, sound: str, index: int, seconds: float = 1.6) -> str:
    """Writes one clip of `sound` in format `index` of OWN_FORMATS; returns its path."""
    extension, rate, channels, subtype = OWN_FORMATS[index % len(OWN_FORMATS)]
    rng = np.random.default_rng(index)
    clip = rng.normal(0, 0.01, int(seconds * rate)) + rng.uniform(0.3, 0.6) * synth_clip(sound, seconds, rate, rng)
    data = np.repeat(clip[:, None], channels, axis=1) if channels > 1 else clip
    path = stem + extension
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, np.clip(data, -1, 1).astype(np.float32), rate, subtype=subtype)
    return path


def make_own_folder(out_dir: str, clips_per_class: int = 12, classes: dict | None = None,
                    seconds: float = 1.6) -> str:
    """Writes `out_dir/<label>/[take/]<label><i>.{wav,flac,ogg}`: 44.1 kHz stereo and 48 kHz
    24-bit WAV, 22.05 kHz FLAC, 8 kHz OGG.

    Returns:
        `out_dir`.
    """
    for label, sound in (classes or OWN_CLASSES).items():
        for i in range(clips_per_class):
            write_own_clip(os.path.join(out_dir, label, "take" if i % 2 else "", f"{label}{i:02d}"), sound, i,
                           seconds)
    return out_dir


WORDS = ("yes", "no", "up", "down", "left", "right")


def make_word_folder(out_dir: str, train_per_class: int = 24, test_per_class: int = 16, words=WORDS,
                     sample_rate: int = 16000, seed: int = 0) -> str:
    """Writes `out_dir/{train,test}/<word>/<i>.wav`: spoken words (espeak-ng, random voice, pitch
    and speed) at a random offset in 1 s of faint noise. A small "own folder" of real speech sounds.

    Returns:
        `out_dir`.
    """
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed (scripts/install_system_deps.sh installs it).")
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as workdir:
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            for word in words:
                os.makedirs(os.path.join(out_dir, split, word), exist_ok=True)
                for i in range(count):
                    spoken = _speak(word, sample_rate, rng, workdir)[: sample_rate]
                    clip = rng.normal(0, 0.005, sample_rate)
                    offset = int(rng.integers(0, sample_rate - spoken.size + 1))
                    clip[offset:offset + spoken.size] += rng.uniform(0.3, 0.9) * spoken
                    soundfile.write(os.path.join(out_dir, split, word, f"{word}{i:02d}.wav"),
                                    np.clip(clip, -1, 1).astype(np.float32), sample_rate, subtype="PCM_16")
    return out_dir


def main(argv):
    """`python -m train.demo_data --out_dir DIR [...]`: writes a demo set (e.g. a larger held-out one)."""
    del argv
    from absl import flags

    values = flags.FLAGS
    if values.layout == "words":
        make_word_folder(values.out_dir, values.clips_per_class, seed=values.seed)
        print(f"wrote {values.out_dir}: train/ and test/ folders of {len(WORDS)} spoken words")
        return
    if values.layout == "folder":
        make_own_folder(values.out_dir, values.clips_per_class)
        print(f"wrote {values.out_dir}: {len(OWN_CLASSES)} class folders, mixed formats and rates")
        return
    csv_path, _, labels = make_demo_set(values.out_dir, values.clips_per_class, test_fraction=values.test_fraction,
                                        seed=values.seed)
    print(f"wrote {csv_path}: {len(labels)} classes")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("out_dir", None, "Destination (audio/ and vggsound.csv).", required=True)
    flags.DEFINE_integer("clips_per_class", 24, "Clips of each class.")
    flags.DEFINE_float("test_fraction", 0.25, "Share of each class in the test split (1.0: all held out).")
    flags.DEFINE_integer("seed", 0, "RNG seed; the demo training run uses 0, so pick another for new clips.")
    flags.DEFINE_enum("layout", "vggsound", ["vggsound", "folder", "words"],
                      "vggsound: audio/ + vggsound.csv; folder: <label>/ folders of WAV/FLAC/OGG at 8-48 kHz; "
                      "words: train/ and test/ folders of spoken words (espeak-ng).")
    app.run(main)
