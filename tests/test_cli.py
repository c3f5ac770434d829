"""Every float flag of every tool refuses NaN with one line (absl's range checks let it through)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each tool in a child of its own (tools define flags of the same name); `cli._end` raises
# SystemExit there instead of ending the process, so one child checks all of a tool's flags.
CHILD = """
import contextlib, importlib, io, json, sys
from absl import flags
from keras_airn import cli
importlib.import_module(sys.argv[1])
cli._end = lambda code: (_ for _ in ()).throw(SystemExit(code))
results = {}
for name, flag in flags.FLAGS._flags().items():
    if isinstance(flag.parser, flags.FloatParser) and name == flag.name:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                cli.parse_flags([sys.argv[1], f"--{name}=nan"])
                code = 0
            except SystemExit as error:
                code = error.code
        flag.unparse()
        results[name] = [code, stderr.getvalue().strip()]
print(json.dumps(results))
"""


@pytest.mark.parametrize("tool", ["train.finetune", "convert.tflite", "edge.listen"])
def test_every_float_flag_refuses_nan_in_one_line(tool):
    result = subprocess.run([sys.executable, "-c", CHILD, tool], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(result.stdout.splitlines()[-1])
    assert len(results) >= 2, results  # the tool's float flags were found
    if tool == "train.finetune":
        assert {"momentum", "lr_decay", "checkpoint_minutes", "gain_db"} <= set(results), results
    # One line naming the flag: the NaN rule's, or the flag's own range check where it has one.
    wrong = {name: got for name, got in results.items()
             if got[0] != 1 or "\n" in got[1] or not got[1].startswith("error: ") or "must be" not in got[1]}
    assert not wrong, wrong
