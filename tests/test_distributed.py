"""MirroredStrategy over two logical CPU devices matches single-device training for one step."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, keras_airn as ka
from keras_airn.training.trainer import TrainConfig, compile_model

def build():
    keras.utils.set_random_seed(0)
    model = ka.create_model("b0", num_classes=5, stem_width=8, stage_widths=(8, 16, 32, 64),
                            depths=(1, 1, 1, 1), expansion=2, dropout=0.0, sync_batchnorm=True)
    compile_model(model, TrainConfig(learning_rate=0.1), steps_per_epoch=1)
    return model

rng = np.random.default_rng(1)
x = rng.normal(-4, 2, (8, 64, 128, 1)).astype("float32")
y = rng.integers(0, 5, 8)
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
single = build()
single.fit(data, epochs=1, verbose=0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    mirrored = build()
mirrored.fit(data, epochs=1, verbose=0)
diff = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(single.weights, mirrored.weights))
moved = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(single.weights, build().weights))
print("max_weight_diff", diff, "max_update", moved)
"""


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("max_weight_diff"))
    diff, update = float(line.split()[1]), float(line.split()[3])
    assert update > 1e-3, "the step did not change the weights"
    assert diff < 1e-5 * max(1.0, update), line
