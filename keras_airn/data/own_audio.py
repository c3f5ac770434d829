"""Readers of your own audio: class folders (`read_folder`) and `path,label[,split]` CSV files
(`read_csv`), split per class by a stable hash (`stratified_split`); `write_split_csv` records the
split a run used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from typing import Sequence

from absl import logging

from keras_airn.data.audio import AUDIO_EXTENSIONS
from keras_airn.data.examples import DatasetError, Example, Split, csv_text, label_indices
from keras_airn.data.labels import validate_labels

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
    indices = label_indices([label for _, label, _ in rows], label_names, source)
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
    """
    rows = _class_folder_rows(data_dir)
    return _splits_from_rows(rows, data_dir, data_dir, test_fraction, seed, label_names, min_classes)


def _split_roots(data_dir: str) -> dict[str | None, str]:
    """{split or None: the folder of its class folders}: `DIR/{train,test,val}` where those are the
    folders of `data_dir`, else {None: data_dir}.

    Raises:
        DatasetError: no folder, no class folders, audio files outside the class folders.
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
    return ({SPLIT_ALIASES[f]: os.path.join(data_dir, f) for f in folders} if has_split_folders
            else {None: data_dir})


def _class_folder_rows(data_dir: str) -> list[tuple[str, str, str | None]]:
    """(path, label, split or None) of every audio file below the class folders of `data_dir`.

    Raises:
        DatasetError: as `_split_roots`; a class folder without audio (naming the other file
            types found), no audio at all.
    """
    rows, others, found = [], [], {}
    for split, root in _split_roots(data_dir).items():
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
    return rows


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
    with io.StringIO(csv_text(csv_path), newline="") as handle:
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
