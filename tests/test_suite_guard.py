"""The suite cannot hang: a crashed worker or a stuck test ends the run with a failure.

Runs pytest on provoked faults with the project's own options (pyproject.toml and the Makefile's
`-n 2 --dist loadgroup`), in real processes. And TensorFlow runs without oneDNN here as it does
for users (`keras_airn.tf_env`).
"""

import os
import subprocess
import sys
import time

import pytest

from keras_airn import tf_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FAULTS = {
    "crash": "import os\ndef test_crash():\n    os.abort()\n",
    "hang": "import time\ndef test_hang():\n    time.sleep(600)\n",
}
PASSING = ("import time, pytest\npytestmark = pytest.mark.xdist_group('g')\n"
           + "".join(f"def test_{i}():\n    time.sleep(0.5)\n" for i in range(6)))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_crashed_or_stuck_worker_fails_the_run_fast(tmp_path, fault):
    (tmp_path / f"test_{fault}.py").write_text("import pytest\npytestmark = pytest.mark.xdist_group('g')\n"
                                               + FAULTS[fault])
    (tmp_path / "test_passing.py").write_text(PASSING)
    command = [sys.executable, "-m", "pytest", "-c", os.path.join(ROOT, "pyproject.toml"), "--rootdir",
               str(tmp_path), "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-o", "timeout=5",
               str(tmp_path)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                            env=dict(os.environ, PYTHONFAULTHANDLER="0"))
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout[-3000:]
    assert elapsed < 120, elapsed  # without the options a crash under loadgroup hangs to the limit
    assert f"crashed while running 'test_{fault}.py::test_{fault}'" in result.stdout, result.stdout[-3000:]


def _probe(code: str, **variables) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != tf_env.ONEDNN_VARIABLE}
    return subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(env, TF_CPP_MIN_LOG_LEVEL="3", **variables))


def test_tensorflow_runs_without_onednn_unless_the_user_asks():
    assert not tf_env.onednn_enabled()  # this suite's process: conftest imported keras_airn first
    probe = ("import os, keras_airn; from keras_airn import tf_env; "
             "print(os.environ.get(tf_env.ONEDNN_VARIABLE), tf_env.onednn_enabled())")
    assert _probe(probe).stdout.split() == ["0", "False"]
    assert _probe(probe, TF_ENABLE_ONEDNN_OPTS="1").stdout.split() == ["1", "True"]  # the user's choice holds
    # TensorFlow imported first: keras_airn warns where TensorFlow turned oneDNN on by itself
    # (its default on CPUs with AVX-512 VNNI, BF16 or AMX; off on AVX2-only ones).
    late = _probe("import tensorflow, keras_airn; from keras_airn import tf_env; print(tf_env.onednn_enabled())")
    default_on = late.stdout.split()[-1] == "True"
    assert ("TF_ENABLE_ONEDNN_OPTS=0" in late.stderr) == default_on, late.stderr[-2000:]
