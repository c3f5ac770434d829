"""Dataset readers: each yields `Example`s (file, optional segment, label) for the one pipeline.

Your own audio: `read_folder` (a sub-folder per class, optionally under train/test/val split
folders) and `read_csv` (`path,label[,split]`). Public sets as users have them: VGG-Sound's
`vggsound.csv` (youtube_id, start_seconds, label, split; no header) with a directory of
`{youtube_id}_{start:06d}.{wav,flac}` files, and the downstream sets in their public layouts.
Missing and unreadable files are found at start (see `check_examples`), not mid-epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from typing import Sequence

import numpy as np

from absl import logging

from keras_airn.data.audio import AUDIO_EXTENSIONS, audio_info, verify_audio_files
from keras_airn.errors import KerasAirnError
from keras_airn.data.labels import validate_labels

VGGSOUND_SPLITS = ("train", "test")


# What a run does with unusable audio: list and leave it out, or stop naming it.
BAD_AUDIO_MODES = ("skip", "fail")


class DatasetError(KerasAirnError):
    """A dataset description is inconsistent (unknown split or label, no audio, bad row)."""


def _csv_text(path: str) -> str:
    """The text of a UTF-8 CSV file (a byte-order mark, as Excel writes, is dropped).

    Raises:
        DatasetError: the file is not UTF-8 text, naming the line.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the CSV as "
                           f"UTF-8 (Excel: 'CSV UTF-8').") from None


@dataclasses.dataclass(frozen=True)
class Example:
    """One labelled clip: a file, or the segment [start, stop) samples of it (stop -1: to end)."""

    path: str
    label: int
    start: int = 0
    stop: int = -1


@dataclasses.dataclass
class Split:
    """Examples of one split with the label names their indices refer to."""

    examples: list[Example]
    label_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


def _label_indices(labels: Sequence[str], label_names: Sequence[str], source: str) -> list[int]:
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DatasetError(
            f"{source}: {len(unknown)} label(s) not in the label map: {unknown[:10]}"
            + (" ..." if len(unknown) > 10 else "")
        )
    return [index[label] for label in labels]


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
    rows = []
    with io.StringIO(_csv_text(csv_path), newline="") as handle:
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
    if label_names is None:
        label_names = sorted({label for _, _, label, _ in rows})
    validate_labels(label_names, csv_path)
    rows = [row for row in rows if row[3] == split]
    indices = _label_indices([row[2] for row in rows], label_names, csv_path)
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


# --- Your own audio: class folders and CSV files ---------------------------------------------

SPLIT_NAMES = ("train", "test", "val")
SPLIT_ALIASES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}
SPLIT_FILE = "split.csv"


def split_fraction(relative_path: str, seed: int) -> float:
    """A stable number in [0, 1) for a file: the hash of (seed, its relative path).

    Files added later do not change it, unlike a position in a shuffled list.
    """
    digest = hashlib.sha256(f"{seed}:{relative_path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def stratified_split(relative_paths: Sequence[str], labels: Sequence[str], test_fraction: float,
                     seed: int) -> list[str]:
    """Assigns "train" or "test" to each file, the same fraction per class, by hash rank.

    Per class of n files, the round(n * test_fraction) files with the smallest
    `split_fraction` go to test (at least one when n >= 2 and test_fraction > 0; never all).
    Adding a file moves at most one other file of its class across the boundary.

    Returns:
        The split of each file, in input order.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in [0, 1), got {test_fraction}.")
    by_class: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    splits = ["train"] * len(relative_paths)
    for indices in by_class.values():
        count = len(indices)
        test_count = min(count - 1, round(count * test_fraction))
        if test_fraction > 0 and count >= 2:
            test_count = max(1, test_count)
        ranked = sorted(indices, key=lambda i: split_fraction(relative_paths[i], seed))
        for index in ranked[:test_count]:
            splits[index] = "test"
    return splits


def _splits_from_rows(rows: Sequence[tuple[str, str, str | None]], source: str, base: str, test_fraction: float,
                      seed: int, label_names: Sequence[str] | None, min_classes: int = 2) -> dict[str, Split]:
    """{split: Split} from (path, label, split or None) rows with one sorted label map for all
    splits; rows without a split are assigned by `stratified_split` (paths relative to `base`)."""
    if any(split is None for _, _, split in rows):
        relative = [os.path.relpath(path, base) for path, _, _ in rows]
        assigned = stratified_split(relative, [label for _, label, _ in rows], test_fraction, seed)
        rows = [(path, label, split) for (path, label, _), split in zip(rows, assigned)]
    label_names = list(label_names) if label_names is not None else sorted({label for _, label, _ in rows})
    validate_labels(label_names, source)
    indices = _label_indices([label for _, label, _ in rows], label_names, source)
    if len(label_names) < min_classes:
        raise DatasetError(f"{source}: one class only ({label_names}): a classifier needs at least two.")
    splits: dict[str, Split] = {}
    for (path, _, split), label in zip(rows, indices):
        splits.setdefault(split, Split([], list(label_names))).examples.append(Example(path, label))
    if "train" not in splits:
        raise DatasetError(f"{source}: no training files.")
    trained = {example.label for example in splits["train"].examples}
    untrained = [name for i, name in enumerate(label_names) if i not in trained]
    if untrained:
        raise DatasetError(f"{source}: class(es) with no training files: {untrained[:10]}.")
    _refuse_audio_in_two_splits(splits, source)
    return {name: splits[name] for name in SPLIT_NAMES if name in splits}


def _refuse_audio_in_two_splits(splits: dict[str, Split], source: str) -> None:
    """Refuses a file, or a byte-identical copy of it, in two splits (the test would score training
    data) or under two labels (one recording cannot teach both).

    Only files whose size occurs more than once are read (hashed), so a folder of distinct
    recordings costs one `stat` a file.
    """
    import hashlib

    by_size: dict[int, list[tuple[str, str, str]]] = {}
    for name, split in splits.items():
        for example in split.examples:
            try:
                by_size.setdefault(os.path.getsize(example.path), []).append(
                    (name, split.label_names[example.label], example.path))
            except OSError:
                continue  # a missing file is reported by the audio check
    seen: dict[tuple[int, str], tuple[str, str, str]] = {}
    clashes = []
    for size, entries in by_size.items():
        if len({(name, label) for name, label, _ in entries}) < 2:
            continue
        for entry in entries:
            with open(entry[2], "rb") as handle:
                key = (size, hashlib.sha1(handle.read()).hexdigest())
            first = seen.setdefault(key, entry)
            if first[:2] != entry[:2] and first[2] != entry[2]:
                clashes.append((first, entry))
    if clashes:
        (first_split, first_label, first), (second_split, second_label, second) = clashes[0]
        why = ("in two splits (the test would score training audio)" if first_split != second_split
               else "under two labels")
        raise DatasetError(f"{source}: {len(clashes)} recording(s) {why}, e.g. {first} ({first_split}, "
                           f"{first_label}) = {second} ({second_split}, {second_label}); remove one copy.")


def _audio_files_below(directory: str) -> tuple[list[str], list[str]]:
    """(audio files, other files) anywhere below `directory`, sorted, hidden files left out."""
    audio, other, seen = [], [], set()
    top = os.path.realpath(directory)
    for root, folders, names in os.walk(directory, followlinks=True):  # symlinked folders count
        real = os.path.realpath(root)
        if real in seen or top.startswith(real + os.sep):  # walked already, or a link up the tree
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            (audio if name.lower().endswith(AUDIO_EXTENSIONS) else other).append(path)
    return audio, other


def read_folder(data_dir: str, *, test_fraction: float = 0.2, seed: int = 0,
                label_names: Sequence[str] | None = None, min_classes: int = 2) -> dict[str, Split]:
    """Reads `DIR/<label>/**/*.{wav,flac,ogg,mp3}`, or `DIR/{train,test,val}/<label>/**/...`.

    Label names are the class folder names, sorted (as `keras.utils.audio_dataset_from_directory`
    does). Without split folders, files are split by `stratified_split` (stable under added
    files); `write_split_csv` records the result.

    Args:
        data_dir: the dataset folder.
        test_fraction: share of each class held out for testing (no split folders only).
        seed: seed of that split.
        label_names: a fixed label map (e.g. a model's); by default the sorted folder names.
        min_classes: fewer classes are refused (a classifier needs two; clips enrolled on a
            trainable model may be of one new class).

    Returns:
        {"train": Split, "test": Split, ("val": Split)}: those present.

    Raises:
        DatasetError: naming the folder: none, no audio, audio outside class folders, unknown
            labels, a class without training files.

    Example:
    >>> splits = read_folder("my_sounds", test_fraction=0.2, seed=0)
    >>> splits["train"].label_names
    ['bark', 'doorbell', 'speech']
    """
    if not os.path.isdir(data_dir):
        raise DatasetError(f"{data_dir}: dataset folder not found.")
    folders = sorted(f for f in os.listdir(data_dir)
                     if os.path.isdir(os.path.join(data_dir, f)) and not f.startswith("."))
    if not folders:
        raise DatasetError(f"{data_dir}: no class folders (expected {data_dir}/<label>/<files>).")
    has_split_folders = "train" in folders and set(folders) <= set(SPLIT_ALIASES)
    top_levels = [data_dir] + ([os.path.join(data_dir, f) for f in folders] if has_split_folders else [])
    loose = [os.path.join(top, name) for top in top_levels for name in sorted(os.listdir(top))
             if name.lower().endswith(AUDIO_EXTENSIONS) and os.path.isfile(os.path.join(top, name))]
    if loose:
        raise DatasetError(f"{data_dir}: {len(loose)} audio file(s) outside a class folder, "
                           f"e.g. {loose[0]}; put each in a folder named after its label.")
    split_roots = ({SPLIT_ALIASES[f]: os.path.join(data_dir, f) for f in folders} if has_split_folders
                   else {None: data_dir})
    rows, others, found = [], [], {}
    for split, root in split_roots.items():
        for label in sorted(f for f in os.listdir(root) if os.path.isdir(os.path.join(root, f))
                            and not f.startswith(".")):
            audio, other = _audio_files_below(os.path.join(root, label))
            others.extend(other)
            rows.extend((path, label, split) for path in audio)
            found.setdefault(label, []).extend(audio)
    empty = [label for label, audio in found.items() if not audio]
    if rows and empty:
        kinds = sorted({os.path.splitext(path)[1].lower() or os.path.basename(path) for path in others})
        raise DatasetError(f"{data_dir}: class folder(s) without audio files ({', '.join(AUDIO_EXTENSIONS)}): "
                           f"{empty[:10]}" + (f"; files of other types here: {kinds[:10]} (convert them, e.g. "
                                              f"`ffmpeg -i in.m4a out.wav`)" if kinds else "")
                           + "; remove the folder to train without that class.")
    if not rows:
        raise DatasetError(f"{data_dir}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in its class folders.")
    if others:
        logging.warning("%s: %d non-audio file(s) ignored, e.g. %s", data_dir, len(others), others[0])
    return _splits_from_rows(rows, data_dir, data_dir, test_fraction, seed, label_names, min_classes)


def read_csv(csv_path: str, *, test_fraction: float = 0.2, seed: int = 0,
             label_names: Sequence[str] | None = None, min_classes: int = 2) -> dict[str, Split]:
    """Reads a CSV with header `path,label[,split]`; paths relative to the CSV's folder.

    Rows without a split column are split by `stratified_split`. Every row must name an existing
    file, once.

    Args:
        csv_path: the CSV file.
        test_fraction, seed: the split when the CSV has no `split` column.
        label_names: a fixed label map; by default the sorted labels of the CSV.
        min_classes: fewer classes are refused (as `read_folder`).

    Returns:
        {"train": Split, "test": Split, ("val": Split)}: those present.

    Raises:
        DatasetError: naming the file and line: bad header, empty label, unknown split,
            missing file, a file listed twice, a class without training files.
    """
    if not os.path.isfile(csv_path):
        raise DatasetError(f"{csv_path}: CSV file not found.")
    base = os.path.dirname(os.path.abspath(csv_path))
    with io.StringIO(_csv_text(csv_path), newline="") as handle:
        reader = csv.reader(handle)
        header = [field.strip().lower() for field in next(reader, [])]
        if header[:2] != ["path", "label"] or len(header) > 3 or (len(header) == 3 and header[2] != "split"):
            raise DatasetError(f"{csv_path}: expected the header `path,label` or `path,label,split`, got {header}.")
        rows, missing, seen = [], [], {}
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != len(header):
                raise DatasetError(f"{csv_path}:{line}: expected {len(header)} fields, got {len(row)}: {row}")
            relative, label = row[0].strip(), row[1].strip()
            if not label:
                raise DatasetError(f"{csv_path}:{line}: empty label.")
            split = None
            if len(header) == 3:
                split = SPLIT_ALIASES.get(row[2].strip().lower())
                if split is None:
                    raise DatasetError(f"{csv_path}:{line}: unknown split {row[2]!r} "
                                       f"(expected one of {sorted(SPLIT_ALIASES)}).")
            path = os.path.normpath(os.path.join(base, relative))
            if path in seen:
                raise DatasetError(f"{csv_path}:{line}: {relative} is listed twice (also line {seen[path]}).")
            seen[path] = line
            if not os.path.isfile(path):
                missing.append(f"{csv_path}:{line}: {relative}")
            rows.append((path, label, split))
    if missing:
        raise DatasetError(f"{len(missing)} file(s) in {csv_path} not found:\n  " + "\n  ".join(missing[:10]))
    if not rows:
        raise DatasetError(f"{csv_path}: no rows.")
    return _splits_from_rows(rows, csv_path, base, test_fraction, seed, label_names, min_classes)


def split_csv(splits: dict[str, Split], path: str) -> bytes:
    """The `path,label,split` rows `write_split_csv` writes (paths relative to `path`'s folder)."""
    import io

    base = os.path.dirname(os.path.abspath(path))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "split"])
    for name, split in splits.items():
        for example in split.examples:
            writer.writerow([os.path.relpath(example.path, base), split.label_names[example.label], name])
    return buffer.getvalue().encode()


def write_split_csv(splits: dict[str, Split], path: str) -> None:
    """Writes `path,label,split` rows (paths relative to `path`'s folder): the split as used,
    readable by `read_csv` to repeat the run."""
    from keras_airn import files

    files.write_bytes(path, split_csv(splits, path))


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
