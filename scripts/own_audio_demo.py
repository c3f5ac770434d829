"""Runs the README's Python quick start exactly as written, on a generated "own audio" folder.

The code is read from README.md (the block under "Your own audio, from Python") and run in a
work folder holding what it names: `my_sounds/<label>/...` (44.1 kHz stereo and 48 kHz 24-bit
WAV, 22.05 kHz FLAC, 8 kHz OGG; `python -m train.demo_data --layout folder`),
`street_48k_stereo.wav`, and `runs/demo` (a link to the `make demo` run). Prints what the code
prints and the seconds of each line.

Usage: .venv/bin/python scripts/own_audio_demo.py [--pretrained runs/demo] [--workdir runs/own]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time

import numpy as np
import soundfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_airn.machine import machine_description  # noqa: E402
from train.demo_data import make_own_folder, synth_clip  # noqa: E402

SECTION = "### Your own audio, from Python"


def readme_quick_start(readme: str = os.path.join(ROOT, "README.md")) -> str:
    """The Python code block under the README's SECTION heading."""
    text = open(readme, encoding="utf-8").read()
    found = re.search(re.escape(SECTION) + r"\s*```python\n(.*?)```", text, re.S)
    if not found:
        raise SystemExit(f"{readme}: no python block under {SECTION!r}.")
    return found.group(1)


def statements(code: str) -> list[str]:
    """`code` cut into its top-level statements (a call spread over lines stays whole)."""
    import ast

    lines = code.splitlines()
    return ["\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in ast.parse(code).body]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default="runs/demo", help="The `make demo` run the code starts from.")
    parser.add_argument("--workdir", default="runs/own", help="Folder the code runs in (made afresh).")
    parser.add_argument("--clips_per_class", type=int, default=24)
    args = parser.parse_args()
    pretrained = os.path.abspath(args.pretrained)
    if not os.path.isdir(pretrained):
        raise SystemExit(f"{args.pretrained}: not found; run `make demo` first.")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(os.path.join(args.workdir, "runs"))
    os.symlink(pretrained, os.path.join(args.workdir, "runs", "demo"))
    make_own_folder(os.path.join(args.workdir, "my_sounds"), args.clips_per_class)
    street = 0.3 * synth_clip("noise_low", 6.0, 48000, np.random.default_rng(0))
    soundfile.write(os.path.join(args.workdir, "street_48k_stereo.wav"), np.stack([street, street], 1), 48000)
    os.chdir(args.workdir)

    print(f"Machine: {machine_description()}")
    namespace: dict = {}
    for statement in statements(readme_quick_start()):
        start = time.perf_counter()
        exec(compile(statement, "README.md", "exec"), namespace)
        print(f"[{time.perf_counter() - start:7.1f} s] {statement.splitlines()[0]}", flush=True)


if __name__ == "__main__":
    main()
