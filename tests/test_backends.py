"""The layers are backend-agnostic: re-parameterisation is exact under the PyTorch backend too."""

import os
import subprocess
import sys

SCRIPT = """
import numpy as np, keras, keras_airn as ka
from tests.helpers import randomize_batchnorm, random_log_mel, max_relative_error
assert keras.backend.backend() == "torch", keras.backend.backend()
model = randomize_batchnorm(ka.create_model("b0", num_classes=9, kernel_sizes=(21, 11, 3)), 4)
x = random_log_mel(2, 64)
expected = keras.ops.convert_to_numpy(model(x, training=False))
for fold in (False, True):
    deploy = ka.reparameterize(model, fold_identity=fold)
    got = keras.ops.convert_to_numpy(deploy(x, training=False))
    print("max_rel_err", fold, max_relative_error(got, expected))
"""


def test_reparameterize_under_torch_backend():
    env = dict(os.environ, KERAS_BACKEND="torch", CUDA_VISIBLE_DEVICES="")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    errors = [float(line.split()[-1]) for line in result.stdout.splitlines() if line.startswith("max_rel_err")]
    assert len(errors) == 2 and max(errors) < 1e-5, result.stdout
