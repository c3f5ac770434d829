"""Table of the re-parameterisable networks of the registry (the presets): parameters, MACs and
single-thread Keras latency of each form.

Usage: python -m edge.presets [--frames 512] [--rounds 10] [--output docs/presets.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn.network.model import VGGSOUND_CLASSES  # noqa: E402
from keras_airn.network.registry import list_networks, network_info  # noqa: E402

# The networks with a train and a deploy form to compare, sorted as before.
REPARAMETERIZABLE = sorted(name for name in list_networks() if network_info(name).reparameterizable)

FRAMES = flags.DEFINE_integer("frames", 512, "Input frames T (F is 128).")
ROUNDS = flags.DEFINE_integer("rounds", 10, "Timed rounds (one inference of each form per round).")
PRESET_NAMES = flags.DEFINE_list("presets", REPARAMETERIZABLE, "Presets to include (registered networks with a "
                                 "deploy form).")
NUM_CLASSES = flags.DEFINE_integer("num_classes", VGGSOUND_CLASSES, "Classifier size (default: VGG-Sound's).")
THREADS = flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads.")
OUTPUT = flags.DEFINE_string("output", None, "Also write the markdown table to this file.")

FORMS = ("train", "release_deploy", "folded_identity")


def main(argv):
    del argv
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
    import numpy as np

    import keras_airn as ka
    from edge.timing import median_ratio, time_interleaved
    from keras_airn.machine import machine_description
    from keras_airn.network.registry import create_network

    shape = (FRAMES.value, 128)
    x = tf.constant(np.random.default_rng(0).normal(-4, 2, (1, *shape, 1)).astype(np.float32))
    rows = []
    for preset in PRESET_NAMES.value:
        train = create_network(preset, num_classes=NUM_CLASSES.value)
        models = {
            "train": train,
            "release_deploy": ka.reparameterize(train, fold_identity=False, fold_batchnorm=False),
            "folded_identity": ka.reparameterize(train, fold_identity=True),
        }
        runners = {}
        for form, model in models.items():
            infer = tf.function(lambda inputs, m=model: m(inputs, training=False))
            runners[form] = lambda f=infer: f(x).numpy()
        latencies = time_interleaved(runners, rounds=ROUNDS.value)
        row = {"preset": preset}
        for form in FORMS:
            params, macs = ka.profile(models[form], shape)
            row[form] = (params, macs, float(np.median(latencies[form])))
        row["ratio_release"] = median_ratio(latencies["train"], latencies["release_deploy"])
        row["ratio_folded"] = median_ratio(latencies["train"], latencies["folded_identity"])
        rows.append(row)

    header = (
        "| preset | form | params | GMACs | median ms |\n|---|---|---:|---:|---:|\n"
    )
    lines = []
    for row in rows:
        for form in FORMS:
            params, macs, seconds = row[form]
            lines.append(f"| {row['preset']} | {form} | {params:,} | {macs / 1e9:.3f} | {seconds * 1e3:.1f} |")
    ratios = "\n".join(
        f"- {row['preset']}: train / release deploy = {row['ratio_release']:.2f}x, "
        f"train / folded = {row['ratio_folded']:.2f}x"
        for row in rows
    )
    text = (
        f"Input 1 x {shape[0]} x {shape[1]} x 1, {NUM_CLASSES.value} classes, Keras inference "
        f"(tf.function), {THREADS.value} thread(s), {ROUNDS.value} interleaved rounds.\n"
        f"Machine: {machine_description()}.\n\n{header}" + "\n".join(lines) +
        f"\n\nSpeed-up of re-parameterisation (median of per-round ratios):\n{ratios}\n"
    )
    print(text)
    if OUTPUT.value:
        os.makedirs(os.path.dirname(OUTPUT.value) or ".", exist_ok=True)
        with open(OUTPUT.value, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    app.run(main)
