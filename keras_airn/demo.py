"""Demo: build B0, give it non-trivial BatchNorm statistics, re-parameterise, compare.

Usage: python -m keras_airn.demo
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

import numpy as np  # noqa: E402
from absl import app  # noqa: E402


def main(argv):
    del argv
    import keras_airn as ka

    rng = np.random.default_rng(0)
    model = ka.create_model("b0", num_classes=10)
    for weight in model.weights:  # stand-in for training: BN statistics away from their init
        if weight.path.endswith(("gamma", "moving_variance")):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype(np.float32))
        elif weight.path.endswith(("beta", "moving_mean")):
            weight.assign(rng.normal(0, 0.2, weight.shape).astype(np.float32))
    x = rng.normal(-4, 2, (2, 512, 128, 1)).astype(np.float32)
    reference = model.predict(x, verbose=0)
    print(f"{'form':<16} {'params':>12} {'GMACs':>7} {'max rel. logit diff':>20}")
    for form, candidate in [
        ("train", model),
        ("release_deploy", ka.reparameterize(model, fold_identity=False, fold_batchnorm=False)),
        ("folded_identity", ka.reparameterize(model)),
    ]:
        params, macs = ka.profile(candidate, (512, 128))
        logits = candidate.predict(x, verbose=0)
        error = np.abs(logits - reference).max() / np.abs(reference).max()
        print(f"{form:<16} {params:>12,} {macs / 1e9:>7.3f} {error:>20.2e}")


if __name__ == "__main__":
    app.run(main)
