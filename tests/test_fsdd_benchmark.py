"""scripts/fsdd_benchmark.py's splits on a folder named as FSDD's is (generated files): who trains, who is tested."""

import csv
import os

import numpy as np
import pytest
import soundfile

from scripts.fsdd_benchmark import held_out_speakers, split_files, voices_curve

SPEAKERS = ("anna", "bert", "cleo", "dave")


def _fake_fsdd(root):
    folder = os.path.join(root, "recordings")
    os.makedirs(folder)
    for speaker in SPEAKERS:
        for digit in range(2):
            for index in range(3):
                soundfile.write(os.path.join(folder, f"{digit}_{speaker}_{index}.wav"),
                                np.zeros(800, np.float32), 8000)
    return root


def _speakers_by_split(path):
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    found = {}
    for row in rows:
        found.setdefault(row["split"], set()).add(os.path.basename(row["path"]).split("_")[1])
    return found, len(rows)


def test_speaker_splits_hold_one_voice_out_and_train_on_the_first_k_others(tmp_path):
    fsdd = _fake_fsdd(str(tmp_path / "fsdd"))
    paths = split_files(fsdd, str(tmp_path), ["speaker_bert", "speaker_bert_from_1", "speaker_bert_from_2"])
    assert _speakers_by_split(paths["speaker_bert"]) == ({"test": {"bert"}, "train": {"anna", "cleo", "dave"}}, 24)
    assert _speakers_by_split(paths["speaker_bert_from_1"]) == ({"test": {"bert"}, "train": {"anna"}}, 12)
    assert _speakers_by_split(paths["speaker_bert_from_2"]) == ({"test": {"bert"}, "train": {"anna", "cleo"}}, 18)


def test_unknown_or_impossible_splits_stop_with_one_line(tmp_path):
    fsdd = _fake_fsdd(str(tmp_path / "fsdd"))
    for name in ("speaker_bert_from_0", "speaker_bert_from_4", "speaker_zoe", "speakers_bert"):
        with pytest.raises(SystemExit, match=f"unknown split '{name}'"):
            split_files(fsdd, str(tmp_path), [name])


def test_the_voices_curve_takes_default_flag_runs_and_the_held_out_mean_leaves_from_k_runs_out():
    results = {f"r{k}": {"split": split, "model": "b0", "recipe": "small_data", "top1": top1, "extra_flags": flags}
               for k, (split, top1, flags) in enumerate([
                   ("speaker_bert_from_1", 0.4, []), ("speaker_bert", 0.8, []),
                   ("speaker_bert_from_2", 0.5, ["--seed", "1"]), ("speaker_cleo", 0.7, [])])}
    assert voices_curve(results) == {"bert held out, b0, small_data": {1: 0.4, 5: 0.8}}
    # the held-out mean is over runs that train on every other voice: bert's 0.8 and cleo's 0.7
    assert held_out_speakers(results) == ["", "- b0, small_data: mean top-1 over 2 held-out speakers 0.750 "
                                              "(lowest 0.700, cleo)"]
