"""Readers of public datasets in the layouts their users have them: VGG-Sound's `vggsound.csv`
(youtube_id, start_seconds, label, split; no header) with a directory of
`{youtube_id}_{start:06d}.{wav,flac}` files, Speech Commands V2, UrbanSound8K, NSynth and
EPIC-Sounds.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Sequence

from keras_airn.data.audio import AUDIO_EXTENSIONS
from keras_airn.data.examples import DatasetError, Example, Split, csv_text, label_indices
from keras_airn.data.labels import validate_labels

VGGSOUND_SPLITS = ("train", "test")


def vggsound_path(data_dir: str, youtube_id: str, start_seconds: int) -> str | None:
    """The audio file of a VGG-Sound row (.wav or .flac), or None if neither exists."""
    stem = os.path.join(data_dir, f"{youtube_id}_{int(start_seconds):06d}")
    for extension in (".wav", ".flac"):
        if os.path.isfile(stem + extension):
            return stem + extension
    return None


def read_vggsound(
    csv_path: str, data_dir: str, split: str, label_names: Sequence[str] | None = None
) -> tuple[Split, list[str]]:
    """Reads one split of VGG-Sound from the public CSV.

    Args:
        csv_path: `vggsound.csv` (youtube_id, start_seconds, label, split; no header).
        data_dir: directory of `{youtube_id}_{start:06d}.{wav,flac}` files.
        split: "train" or "test".
        label_names: label map; by default the sorted labels of the whole CSV.

    Returns:
        (the split's examples whose files exist, the rows' missing file stems).
    """
    if split not in VGGSOUND_SPLITS:
        raise DatasetError(f"split must be one of {VGGSOUND_SPLITS}, got {split!r}.")
    if not os.path.isfile(csv_path):
        raise DatasetError(f"{csv_path}: CSV file not found.")
    if not os.path.isdir(data_dir):
        raise DatasetError(f"{data_dir}: audio directory not found.")
    rows = _vggsound_rows(csv_path)
    if label_names is None:
        label_names = sorted({label for _, _, label, _ in rows})
    validate_labels(label_names, csv_path)
    rows = [row for row in rows if row[3] == split]
    indices = label_indices([row[2] for row in rows], label_names, csv_path)
    examples, missing = [], []
    for (youtube_id, start_seconds, _, _), label in zip(rows, indices):
        path = vggsound_path(data_dir, youtube_id, start_seconds)
        if path is None:
            missing.append(f"{youtube_id}_{start_seconds:06d}")
        else:
            examples.append(Example(path, label))
    if not examples:
        raise DatasetError(
            f"No audio for the {split!r} split of {csv_path} in {data_dir} "
            f"({len(missing)} rows, none with a .wav or .flac file)."
        )
    return Split(examples, list(label_names)), missing


def _vggsound_rows(csv_path: str) -> list[tuple[str, int, str, str]]:
    """(youtube_id, start_seconds, label, split) of every row of `vggsound.csv`.

    Raises:
        DatasetError: naming the line: a row without 4 fields, an unknown split, a bad start; or
            a clip listed twice (in both splits: leakage).
    """
    rows = []
    with io.StringIO(csv_text(csv_path), newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 4:
                raise DatasetError(f"{csv_path}:{line}: expected 4 fields, got {len(row)}: {row}")
            youtube_id, start, label, row_split = (field.strip() for field in row)
            if row_split not in VGGSOUND_SPLITS:
                raise DatasetError(
                    f"{csv_path}:{line}: unknown split {row_split!r} (expected one of {VGGSOUND_SPLITS})."
                )
            try:
                start_seconds = int(float(start))
            except ValueError as error:
                raise DatasetError(f"{csv_path}:{line}: bad start_seconds {start!r}.") from error
            rows.append((youtube_id, start_seconds, label, row_split))
    splits_of: dict[tuple[str, int], list[str]] = {}
    for youtube_id, start_seconds, _, row_split in rows:
        splits_of.setdefault((youtube_id, start_seconds), []).append(row_split)
    repeated = {clip: where for clip, where in splits_of.items() if len(where) > 1}
    if repeated:
        (youtube_id, start_seconds), where = next(iter(repeated.items()))
        leak = " (in both train and test: leakage)" if len(set(where)) > 1 else ""
        raise DatasetError(f"{csv_path}: {len(repeated)} clip(s) listed more than once, e.g. "
                           f"{youtube_id}_{start_seconds:06d}{leak}.")
    return rows


def _audio_files(directory: str) -> list[str]:
    return sorted(
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if name.lower().endswith(AUDIO_EXTENSIONS)
    )


def read_speechcommands(root: str, split: str) -> Split:
    """Speech Commands V2: `root/<word>/<file>.wav`, `validation_list.txt`, `testing_list.txt`.

    Args:
        root: dataset directory.
        split: "train", "validation" or "test".
    """
    if split not in ("train", "validation", "test"):
        raise DatasetError(f"Speech Commands split must be train, validation or test; got {split!r}.")
    lists = {}
    for name, file in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        path = os.path.join(root, file)
        if not os.path.isfile(path):
            raise DatasetError(f"{path}: Speech Commands list file not found.")
        with open(path) as handle:
            lists[name] = {line.strip() for line in handle if line.strip()}
    words = sorted(
        d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("_")
    )
    examples = []
    for label, word in enumerate(words):
        for path in _audio_files(os.path.join(root, word)):
            relative = f"{word}/{os.path.basename(path)}"
            in_split = {"validation": relative in lists["validation"], "test": relative in lists["test"]}
            member = in_split.get(split) if split != "train" else not any(in_split.values())
            if member:
                examples.append(Example(path, label))
    if not examples:
        raise DatasetError(f"{root}: no audio for Speech Commands split {split!r}.")
    return Split(examples, words)


def read_urbansound8k(root: str, split: str, test_fold: int = 1) -> Split:
    """UrbanSound8K: `metadata/UrbanSound8K.csv` and `audio/fold<k>/<slice_file_name>`.

    Args:
        root: dataset directory.
        split: "train" (folds other than `test_fold`) or "test".
        test_fold: the held-out fold, 1-10.
    """
    metadata = os.path.join(root, "metadata", "UrbanSound8K.csv")
    if not os.path.isfile(metadata):
        raise DatasetError(f"{metadata}: UrbanSound8K metadata not found.")
    rows = _rows_with_columns(metadata, ("slice_file_name", "fold", "classID", "class"))
    names = {int(r["classID"]): r["class"] for r in rows}
    label_names = [names[i] for i in sorted(names)]
    examples = []
    for row in rows:
        held_out = int(row["fold"]) == test_fold
        if (split == "test") == held_out:
            path = os.path.join(root, "audio", f"fold{row['fold']}", row["slice_file_name"])
            examples.append(Example(path, int(row["classID"])))
    if not examples:
        raise DatasetError(f"{root}: no UrbanSound8K rows for split {split!r}, test fold {test_fold}.")
    return Split(examples, label_names)


def read_nsynth(root: str, split: str) -> Split:
    """NSynth instrument family: `nsynth-<split>/examples.json` and `nsynth-<split>/audio/*.wav`."""
    directory = os.path.join(root, f"nsynth-{split}")
    metadata = os.path.join(directory, "examples.json")
    if not os.path.isfile(metadata):
        raise DatasetError(f"{metadata}: NSynth examples.json not found.")
    with open(metadata) as handle:
        notes = json.load(handle)
    broken = [key for key, note in notes.items() if not {"instrument_family", "instrument_family_str"} <= set(note)]
    if not notes or broken:
        raise DatasetError(f"{metadata}: " + (f"notes without instrument_family(_str), e.g. {broken[0]}"
                                              if broken else "no notes") + ".")
    families = {int(n["instrument_family"]): n["instrument_family_str"] for n in notes.values()}
    label_names = [families.get(i, f"family_{i}") for i in range(max(families) + 1)]
    examples = [
        Example(os.path.join(directory, "audio", f"{key}.wav"), int(note["instrument_family"]))
        for key, note in sorted(notes.items())
    ]
    return Split(examples, label_names)


def _rows_with_columns(path: str, columns: Sequence[str]) -> list[dict]:
    """The rows of a CSV with a header, after checking that it has `columns`."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: no column(s) {missing} (header: {reader.fieldnames}).")
        rows = list(reader)
    if not rows:
        raise DatasetError(f"{path}: no rows.")
    return rows


def _timestamp_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_epic_sounds(csv_path: str, audio_dir: str, sample_rate: int) -> Split:
    """EPIC-Sounds: a CSV of segments (video_id, start/stop_timestamp, class, class_id) over long
    recordings `audio_dir/<video_id>.wav`.

    Args:
        csv_path: annotation CSV with a header row.
        audio_dir: directory of per-video recordings.
        sample_rate: rate of the recordings, to turn timestamps into samples.
    """
    if not os.path.isfile(csv_path):
        raise DatasetError(f"{csv_path}: EPIC-Sounds CSV not found.")
    rows = _rows_with_columns(csv_path, ("video_id", "start_timestamp", "stop_timestamp", "class", "class_id"))
    names = {int(r["class_id"]): r["class"] for r in rows}
    label_names = [names.get(i, f"class_{i}") for i in range(max(names) + 1)]
    examples = []
    for row in rows:
        start = int(round(_timestamp_seconds(row["start_timestamp"]) * sample_rate))
        stop = int(round(_timestamp_seconds(row["stop_timestamp"]) * sample_rate))
        if stop <= start:
            raise DatasetError(f"{csv_path}: segment {row.get('annotation_id')} ends before it starts.")
        path = os.path.join(audio_dir, f"{row['video_id']}.wav")
        examples.append(Example(path, int(row["class_id"]), start, stop))
    return Split(examples, label_names)

