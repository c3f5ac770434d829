"""A run folder's state: one process at a time, checkpoints that are whole, and the settings a
resume must match.

- `RunLock`: an exclusive `flock` on `OUT/.lock`, taken before anything is written and held
  for the whole run; the kernel releases it when the process dies, so a killed run never
  blocks the next one. A second run on the same folder fails at once, naming the other process.
- Checkpoints: each epoch is a folder `checkpoints/epoch_NNNN/` holding the model (with its
  optimizer) and `state.json` (epoch, RNG states). It is written as `.partial-epoch_NNNN/` and
  renamed when complete, so a checkpoint and its state always belong to the same epoch: a kill
  at any instant leaves the previous epoch's folder, or the new one, or both (the newest wins).
  Older folders and partial ones are removed afterwards.
- A run directory is bound to its data and settings: `run.json` records the recipe, front-end,
  labels, network and the data (each split's clips: paths, labels and file sizes,
  `data_identity`), and `split.csv` the split as read. A resume (or a finished run run again)
  with any of them different is refused, listing the differences, before anything in the folder
  is written (`check_settings`, `check_unchanged`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import time

from keras_airn import files
from keras_airn.errors import KerasAirnError

CHECKPOINTS = "checkpoints"
RUN_CONFIG = "run.json"
LOCK_FILE = ".lock"
MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
_EPOCH_FOLDER = re.compile(r"epoch_(\d{4,})$")
# Runs of an earlier layout: one checkpoint and one state file, replaced in place.
LEGACY_CHECKPOINT = os.path.join(CHECKPOINTS, "last.keras")
LEGACY_STATE = os.path.join(CHECKPOINTS, "state.json")
# Tests kill the process at a named point of checkpoint writing (a real SIGKILL, as a crash).
FAULT_VARIABLE = "AIRN_FAULT_INJECTION"


class RunStateError(KerasAirnError):
    """A run folder is in use, holds a run that was not asked to resume, or does not match."""


def fault_point(name: str, index: int) -> None:
    """Kills this process (SIGKILL, as a crash) when `AIRN_FAULT_INJECTION` is `name:index`."""
    if os.environ.get(FAULT_VARIABLE) == f"{name}:{index}":
        os.kill(os.getpid(), signal.SIGKILL)


class RunLock:
    """Holds `out_dir/.lock` exclusively until `release` (or the process's end).

    Raises:
        RunStateError: another live process holds it; the message names that process.
    """

    def __init__(self, out_dir: str):
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, LOCK_FILE)
        self._handle = open(self.path, "a+")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            self._handle.close()
            raise RunStateError(f"{out_dir} is in use by {holder}; wait for it to finish or choose another "
                                f"--out_dir.") from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"process {os.getpid()} on {socket.gethostname()} since "
                           f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self._handle.flush()

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def write_checkpoint(out_dir: str, model, epoch: int, state: dict) -> str:
    """Writes the checkpoint of `epoch` (epochs done) as one unit; returns its folder."""
    base = os.path.join(out_dir, CHECKPOINTS)
    final = os.path.join(base, f"epoch_{epoch:04d}")
    partial = os.path.join(base, f".partial-epoch_{epoch:04d}")
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    model.save(os.path.join(partial, MODEL_FILE))
    fault_point("model_written", epoch)
    files.write_json(os.path.join(partial, STATE_FILE), {**state, "epoch": epoch})
    if os.path.isdir(final):  # only after a resume from an older layout; the new one wins
        shutil.rmtree(final)
    os.rename(partial, final)
    fault_point("renamed", epoch)
    remove_stale_files(out_dir)
    return final


def _newest_epoch_folder(out_dir: str) -> str | None:
    base = os.path.join(out_dir, CHECKPOINTS)
    epochs = sorted((int(m.group(1)), name) for name in (os.listdir(base) if os.path.isdir(base) else [])
                    if (m := _EPOCH_FOLDER.match(name)))
    return os.path.join(base, epochs[-1][1]) if epochs else None


def remove_stale_files(out_dir: str) -> None:
    """Removes what killed writes left (`.partial-*` files and folders) and every checkpoint but
    the newest complete one (older epoch folders and, once an epoch folder exists, the legacy
    files)."""
    for name in os.listdir(out_dir) if os.path.isdir(out_dir) else []:
        if name.startswith(".partial-") and os.path.isfile(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))
    base = os.path.join(out_dir, CHECKPOINTS)
    if not os.path.isdir(base):
        return
    newest = _newest_epoch_folder(out_dir)
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(".partial-") or (_EPOCH_FOLDER.match(name) and path != newest):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
    if newest:
        for legacy in (LEGACY_CHECKPOINT, LEGACY_STATE):
            if os.path.exists(os.path.join(out_dir, legacy)):
                os.remove(os.path.join(out_dir, legacy))


def latest_checkpoint(out_dir: str) -> tuple[str, dict] | None:
    """(model file, state) of the newest complete checkpoint, or None where there is none."""
    folder = _newest_epoch_folder(out_dir)
    if folder:
        with open(os.path.join(folder, STATE_FILE)) as handle:
            return os.path.join(folder, MODEL_FILE), json.load(handle)
    legacy_state = os.path.join(out_dir, LEGACY_STATE)
    if os.path.isfile(legacy_state) and os.path.getsize(legacy_state) > 0:
        with open(legacy_state) as handle:
            return os.path.join(out_dir, LEGACY_CHECKPOINT), json.load(handle)
    return None


def _flatten(value, prefix="") -> dict:
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def settings_differences(stored: dict, current: dict) -> list[str]:
    """'key: stored -> current' for every setting that differs (lists compared whole).

    A setting the run did not record (added to the project after the run started) matches when
    it is off (0, False or None): training options are added off, as the run trained.

    Example:
    >>> settings_differences({"recipe": {"lr": 0.01}}, {"recipe": {"lr": 0.01, "noise_snr_db": 0.0}})
    []
    """
    old, new = _flatten(json.loads(json.dumps(stored))), _flatten(json.loads(json.dumps(current)))
    added_off = {key for key in set(new) - set(old) if new[key] in (0, False, None)}
    return [f"{key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key) and key not in added_off]


def data_identity(split) -> dict | None:
    """What binds a run to a split's data: its clip count and a digest of each clip's path, label,
    segment and file size (None for no split)."""
    import hashlib

    if split is None:
        return None
    digest = hashlib.sha256()
    for example in split.examples:
        size = os.path.getsize(example.path) if os.path.exists(example.path) else -1
        digest.update(f"{os.path.abspath(example.path)}\0{split.label_names[example.label]}\0{example.start}\0"
                      f"{example.stop}\0{size}\n".encode())
    return {"clips": len(split.examples), "sha256": digest.hexdigest()[:16]}


def check_unchanged(out_dir: str, name: str, content: bytes) -> None:
    """Refuses a resume whose `name` file (the run's split.csv) would change: the run trained on
    the split it holds."""
    path = os.path.join(out_dir, name)
    if not os.path.isfile(path):
        return
    with open(path, "rb") as handle:
        stored = handle.read()
    if stored != content:
        old, new = stored.decode(errors="replace").splitlines(), content.decode(errors="replace").splitlines()
        changed = len(set(old) ^ set(new))
        raise RunStateError(f"{out_dir}: a resume on other data: {changed} row(s) of its {name} would change "
                            f"({len(old) - 1} -> {len(new) - 1} clips; other --data_dir, --test_fraction or "
                            f"--seed?); use the run's data and settings or another output folder.")


def check_settings(out_dir: str, settings: dict) -> None:
    """Refuses a resume whose settings differ from those in `run.json` (if the run has one); a
    run that recorded no data (an earlier version) is not checked on it."""
    path = os.path.join(out_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        return
    with open(path) as handle:
        stored = json.load(handle)
    if "data" not in stored:
        settings = {k: v for k, v in settings.items() if k != "data"}
    differences = settings_differences(stored, settings)
    if differences:
        shown = "\n  ".join(differences[:20]) + ("\n  ..." if len(differences) > 20 else "")
        raise RunStateError(f"{out_dir}: a resume (--resume, resume=True) with settings that differ from the "
                            f"run's ({path}); use the run's settings or another output folder:\n  {shown}")


def save_settings(out_dir: str, settings: dict) -> None:
    files.write_json(os.path.join(out_dir, RUN_CONFIG), settings)
