"""GPU figures where TensorFlow cannot be installed: Keras 3 on the JAX backend.

The lent GPU machines have JAX and PyTorch but no TensorFlow (and no network), so this script
loads the backend-agnostic model modules (layers, model, factory, deploy, optimizer) without the
package's TensorFlow-based audio and front-end modules, and measures on one GPU:

1. Training throughput of B1 (batch 32, 512 x 128 synthetic log-mel input, the release's SGD),
   clips/s, with mixed precision (float16 compute) on/off and XLA (`jit_compile`) on/off.
2. The paper's GPU method (docs/reference.md, section 6): inference samples/s at batch 32,
   50 warm-up and 50 timed batches, train form vs deploy form, B0 and B1.

Usage (on the GPU machine): KERAS_BACKEND=jax python3 scripts/gpu_benchmark.py
"""

import json
import os
import sys
import time
import types

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for package in ("keras_airn", "keras_airn.training"):  # skip the packages' __init__ (TensorFlow imports)
    module = types.ModuleType(package)
    module.__path__ = [os.path.join(ROOT, *package.split("."))]
    sys.modules[package] = module

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_airn.network.deploy import reparameterize  # noqa: E402
from keras_airn.network.factory import create_model  # noqa: E402
from keras_airn.network.model import VGGSOUND_CLASSES as CLASSES  # noqa: E402
from keras_airn.training.optimizer import TorchSGD  # noqa: E402

BATCH, FRAMES, BINS = 32, 512, 128
SMOKE = bool(os.environ.get("AIRN_SMOKE"))  # a quick run of the logic on a CPU: tiny input, few steps
if SMOKE:
    BATCH, FRAMES = 2, 64


def training_throughput(preset: str, mixed: bool, xla: bool, steps: int, warmup: int = 3) -> float:
    keras.config.set_dtype_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(0)
    model = create_model(preset, num_classes=CLASSES)
    model.compile(optimizer=TorchSGD(0.01, momentum=0.9, weight_decay=1e-4, no_decay=("gamma", "beta", "bias")),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=xla)
    rng = np.random.default_rng(0)
    x = rng.normal(-4, 2, (BATCH, FRAMES, BINS, 1)).astype("float32")
    y = rng.integers(0, CLASSES, BATCH)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))  # wait for the device
    keras.config.set_dtype_policy("float32")
    return steps * BATCH / (time.perf_counter() - start)


def inference_throughput(model, warmup: int = 2 if SMOKE else 50, timed: int = 2 if SMOKE else 50) -> float:
    x = np.random.default_rng(0).normal(-4, 2, (BATCH, FRAMES, BINS, 1)).astype("float32")
    for _ in range(warmup):
        np.asarray(model.predict_on_batch(x))
    start = time.perf_counter()
    for _ in range(timed):
        out = model.predict_on_batch(x)
    np.asarray(out)
    return timed * BATCH / (time.perf_counter() - start)


def main():
    if keras.backend.backend() == "jax":
        import jax

        device, version = str(jax.devices()[0].device_kind), jax.__version__
    else:
        device, version = "see the backend", None
    results = {"device": device, "backend": keras.backend.backend(), "keras": keras.__version__,
               "jax": version, "training": [], "inference": []}
    print(json.dumps({k: results[k] for k in ("device", "backend", "keras", "jax")}), flush=True)
    for preset in ("b0", "b1"):
        keras.utils.set_random_seed(0)
        train_form = create_model(preset, num_classes=CLASSES)
        deploy = reparameterize(train_form)
        for form, model in (("train", train_form), ("deploy", deploy)):
            row = {"model": preset, "form": form, "samples_per_s": round(inference_throughput(model), 1)}
            results["inference"].append(row)
            print(json.dumps(row), flush=True)
    for mixed in (False, True):
        for xla in (True, False):
            rate = training_throughput("b1", mixed, xla, steps=1 if SMOKE else 30 if xla else 5,
                                       warmup=1 if SMOKE else 3)
            row = {"model": "b1", "mixed_precision": mixed, "xla": xla, "clips_per_s": round(rate, 1)}
            results["training"].append(row)
            print(json.dumps(row), flush=True)
    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "gpu_results.json"), "w") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
