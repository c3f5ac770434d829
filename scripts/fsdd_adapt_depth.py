"""How much of the network must learn from a new voice: fine-tune parts of a held-out-speaker run in Keras.

For a `scripts/fsdd_benchmark.py` run with speaker NAME held out (its CSV's test split is NAME's
500 recordings), K recordings per digit of NAME are drawn (--draws times, the same draws for every
variant); the re-parameterised network is fine-tuned on them with only the variant's layers
learning (Adam, batches of 8, --epochs, the classifier always learns), and top-1 is measured on
NAME's other recordings (one window each, as FSDD's recordings fit one). What the device's
`convert.tflite --trainable --adapt_stages N` can learn is a variant here ("pointwise_s4_s5" is N = 2).

Usage:
  .venv/bin/python scripts/fsdd_adapt_depth.py --run build/fsdd/runs/speaker_lucas_b0_small_data \\
      --csv build/fsdd/fsdd_speaker_lucas.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re

POINTWISE = r"_res\d+_(a_head|c|d|branch1)"
# name: (layers that learn besides head_projection (a regular expression), Adam's rate)
VARIANTS = {
    "head": (r"$^", 1e-3),
    "pointwise_last_block": (r"s5_res2_(a_head|c|d)", 3e-4),
    "pointwise_s5": (r"s5" + POINTWISE, 3e-4),
    "pointwise_s4_s5": (r"s[45]" + POINTWISE, 3e-4),
    "pointwise_s2_to_s5": (r"s[2-5]" + POINTWISE, 1e-4),
    "everything": (r".*", 1e-4),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="A speaker_NAME run folder of scripts/fsdd_benchmark.py.")
    parser.add_argument("--csv", required=True, help="Its split CSV (the test rows are the held-out speaker's).")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"Any of {', '.join(VARIANTS)}.")
    parser.add_argument("--clips", type=int, default=5, help="Recordings per digit to learn from (K).")
    parser.add_argument("--draws", type=int, default=3, help="Random draws of those recordings.")
    parser.add_argument("--epochs", type=int, default=20, help="Passes over them.")
    args = parser.parse_args()
    unknown = sorted(set(args.variants.split(",")) - set(VARIANTS))
    if unknown or not os.path.isdir(args.run) or not os.path.isfile(args.csv):
        parser.error(f"unknown variants {unknown}" if unknown else f"no run folder {args.run} or CSV {args.csv}")

    import keras
    import numpy as np

    from keras_airn.data.audio import read_audio
    from keras_airn.data.features import FrontEnd, clip_features
    from keras_airn.export.common import model_for_export
    from keras_airn.network.loading import load_model

    front_end = FrontEnd.load(os.path.join(args.run, "front_end.json"))
    with open(args.csv) as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({row["label"] for row in rows})
    test = [(row["path"], labels.index(row["label"])) for row in rows if row["split"] == "test"]
    inputs = np.stack([clip_features(read_audio(path, front_end.sample_rate, resampler=front_end.resampler), 0,
                                     front_end).numpy()[..., None] for path, _ in test])
    truth = np.array([label for _, label in test])
    rng = np.random.default_rng(0)
    draws = [np.concatenate([rng.choice(np.flatnonzero(truth == c), args.clips, replace=False)
                             for c in range(len(labels))]) for _ in range(args.draws)]
    results = {}
    for variant in args.variants.split(","):
        pattern, rate = VARIANTS[variant]
        scores = []
        for seed, chosen in enumerate(draws):
            keras.utils.set_random_seed(seed)
            model = model_for_export(load_model(args.run))
            for layer in model.layers:
                layer.trainable = layer.name == "head_projection" or re.fullmatch(pattern, layer.name) is not None
            model.compile(keras.optimizers.Adam(rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit(inputs[chosen], truth[chosen], batch_size=8, epochs=args.epochs, verbose=0)
            rest = np.setdiff1d(np.arange(len(test)), chosen)
            scores.append(float(np.mean(model.predict(inputs[rest], verbose=0).argmax(1) == truth[rest])))
        results[variant] = {"learning_rate": rate, "top1": scores}
        print(f"{variant}: top-1 {np.mean(scores):.3f} (draws {', '.join(f'{s:.3f}' for s in scores)})", flush=True)
    with open(os.path.join(args.run, "adapt_depth.json"), "w") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
