"""B0 and B1 with random weights and BatchNorm statistics (speed does not depend on them), saved in
train and deploy form for the benchmark scripts: OUT_DIR/{b0,b1}_{train,deploy}.keras.

Usage: .venv/bin/python scripts/random_models.py OUT_DIR
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

import keras_airn as ka  # noqa: E402
from tests.helpers import randomize_batchnorm  # noqa: E402

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
for name in ("b0", "b1"):
    model = randomize_batchnorm(ka.create_model(name), seed=0)  # VGG-Sound's 309 classes
    model.save(os.path.join(out_dir, f"{name}_train.keras"))
    ka.reparameterize(model).save(os.path.join(out_dir, f"{name}_deploy.keras"))
