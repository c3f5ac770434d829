"""Dataset readers: each yields `Example`s (file, optional segment, label) for the one pipeline.

Your own audio (`keras_airn.data.own_audio`): `read_folder` (a sub-folder per class, optionally
under train/test/val split folders) and `read_csv` (`path,label[,split]`). Public sets as users
have them (`keras_airn.data.public_sets`): VGG-Sound's `vggsound.csv` with its audio directory,
and the downstream sets in their public layouts. Every reader is importable from here. Missing
and unreadable files are found at start (see `check_examples`), not mid-epoch.

Example:
>>> splits = read_folder("my_sounds", test_fraction=0.2, seed=0)
>>> splits["train"].label_names
['bark', 'doorbell', 'speech']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from absl import logging

from keras_airn.data.audio import audio_info, verify_audio_files
from keras_airn.data.examples import DatasetError, Example, Split
from keras_airn.data.own_audio import (
    SPLIT_ALIASES,
    SPLIT_FILE,
    SPLIT_NAMES,
    read_csv,
    read_folder,
    split_csv,
    split_fraction,
    stratified_split,
    write_split_csv,
)
from keras_airn.data.public_sets import (
    VGGSOUND_SPLITS,
    read_epic_sounds,
    read_nsynth,
    read_speechcommands,
    read_urbansound8k,
    read_vggsound,
    vggsound_path,
)

__all__ = [
    "BAD_AUDIO_MODES", "CLIP_QUANTILE", "CLIP_STEP_SECONDS", "DatasetError", "Example", "SPLIT_ALIASES",
    "SPLIT_FILE", "SPLIT_NAMES", "Split", "VGGSOUND_SPLITS", "check_examples", "fitted_clip_seconds",
    "read_csv", "read_epic_sounds", "read_folder", "read_nsynth", "read_speechcommands", "read_urbansound8k",
    "read_vggsound", "split_csv", "split_fraction", "stratified_split", "vggsound_path", "write_split_csv",
]

# What a run does with unusable audio: list and leave it out, or stop naming it.
BAD_AUDIO_MODES = ("skip", "fail")


def check_examples(
    examples: Sequence[Example], sample_rate: int, on_bad_audio: str, report_path: str | None = None,
    resample_audio: bool = True, progress: bool = True,
) -> list[Example]:
    """Checks every file's header at start; reports and skips or fails on bad ones.

    Args:
        examples: candidates.
        sample_rate: the front-end's rate.
        on_bad_audio: "skip" (report, drop) or "fail" (raise listing them).
        report_path: where to write the list of bad files with reasons.
        resample_audio: False rejects files at another rate (strict mode).
        progress: show a progress bar.

    Returns:
        The examples whose files are readable.
    """
    if on_bad_audio not in BAD_AUDIO_MODES:
        raise ValueError(f"on_bad_audio must be one of {BAD_AUDIO_MODES}, got {on_bad_audio!r}.")
    headers, bad = verify_audio_files(sorted({e.path for e in examples}), sample_rate, resample_audio,
                                     progress=progress)
    bad.update(_segments_past_the_end(examples, sample_rate, headers))
    if bad:
        if report_path:
            with open(report_path, "w") as handle:
                handle.writelines(f"{reason}\n" for reason in bad.values())
        summary = "\n  ".join(list(bad.values())[:5])
        where = f" (all listed in {report_path})" if report_path else ""
        if on_bad_audio == "fail":
            raise DatasetError(f"{len(bad)} unusable audio file(s){where}:\n  {summary}")
        logging.warning("Skipping %d unusable audio file(s)%s:\n  %s", len(bad), where, summary)
    return [e for e in examples if e.path not in bad and _segment_key(e) not in bad]


def _segment_key(example: Example) -> str:
    return f"{example.path}[{example.start}:{example.stop}]"


def _segments_past_the_end(examples: Sequence[Example], sample_rate: int, headers: dict) -> dict[str, str]:
    """{segment: reason} for segments (EPIC-Sounds) that end after their recording does.

    Args:
        headers: {path: AudioInfo} of the readable files.
    """
    past = {}
    for example in examples:
        if example.stop < 0 or example.path not in headers:
            continue
        length = headers[example.path].samples_at(sample_rate)
        if example.stop > length:
            past[_segment_key(example)] = (
                f"{example.path}: segment {example.start / sample_rate:.3f}-{example.stop / sample_rate:.3f} s "
                f"ends after the recording ({length / sample_rate:.3f} s).")
    return past



CLIP_QUANTILE = 0.9  # share of the training clips a fitted crop holds whole
CLIP_STEP_SECONDS = 0.1  # fitted crops are a whole number of these (10 frames at a 10 ms hop)


def fitted_clip_seconds(examples: Sequence[Example], sample_rate: int, longest: float) -> float:
    """A crop length for these clips: the `CLIP_QUANTILE` quantile of their durations, rounded up
    to a multiple of `CLIP_STEP_SECONDS`, at most `longest` (a front-end's `clip_seconds`).

    Own recordings are often much shorter than the release's 5.12 s crop (spoken digits: 0.4 s);
    a crop that fits them spends no compute on padding.

    Args:
        examples: the training clips (readable files; segments count by their own length).
        sample_rate: the front-end's rate (segment bounds are in its samples).
        longest: the upper bound in seconds.

    Returns:
        Seconds, a multiple of `CLIP_STEP_SECONDS` (the same frames as `longest` when it is shorter).
    """
    durations = []
    for example in examples:
        if example.stop >= 0:
            durations.append((example.stop - example.start) / sample_rate)
        else:
            info = audio_info(example.path)
            durations.append(info.num_samples / info.sample_rate - example.start / sample_rate)
    steps = np.ceil(np.quantile(durations, CLIP_QUANTILE) / CLIP_STEP_SECONDS - 1e-9)
    return float(min(longest, round(max(1, steps) * CLIP_STEP_SECONDS, 6)))
