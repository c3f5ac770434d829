"""On-device enrolment for scripts/fsdd_benchmark.py's --personalise: each run's int8 waveform
trainable `.tflite` (`convert.tflite --trainable`) learns, through its `train` signature
(`keras_airn.inference.personalise`), from K clips of a held-out voice (`personalise`) or of a
digit left out of training (`new_class`); `plot_personalise` draws the first.
"""

from __future__ import annotations

import csv
import json
import os
import sys

from fsdd_benchmark import recordings, run_step  # scripts/ is on the path when fsdd_benchmark.py runs


def trainable_model(run_dir: str, csv_path: str, adapt_stages: int = 0):
    """(the `TrainableModel` of a run's int8 waveform trainable export, its report entry); the
    export (`convert.tflite --trainable [--adapt_stages N]`, calibrated on the CSV's training
    split) runs once."""
    from keras_airn.inference.personalise import TrainableModel

    out_dir = os.path.join(run_dir, f"trainable_adapt{adapt_stages}" if adapt_stages else "trainable")
    report_path = os.path.join(out_dir, "report_trainable.json")
    if not os.path.isfile(report_path):
        command = [sys.executable, "-m", "convert.tflite", "--model", run_dir, "--precisions", "int8", "--waveform",
                   "--trainable", "--adapt_stages", str(adapt_stages), "--dataset", "csv", "--csv", csv_path,
                   "--out_dir", out_dir]
        print("$", " ".join(command), flush=True)
        run_step(command)
    with open(report_path) as handle:
        entry = json.load(handle)["artifacts"]["int8"]
    return TrainableModel(os.path.join(out_dir, entry["file"])), entry


def window_logits(model, embeddings, inputs):
    """Logits of every window with the model's weights as they are now: the head applied to the
    windows' embeddings when it learns alone, else `infer` on each window's model input."""
    import numpy as np

    if not model.adapt_stages:
        return model.head().logits(embeddings)
    return np.stack([model.infer(x)[0] for x in inputs])


def new_class(run_dir: str, csv_path: str, fsdd_dir: str, digit: str, ks: list[int], draws: int,
              adapt_stages: int = 0) -> dict:
    """Digit `digit`, left out of the run's training, enrolled on its device model as a new class
    from K of its official training recordings: its recall on its official test recordings, and
    the other digits' top-1 before and after. Three enrolments: the new class's clips alone (the
    model's replay set mixed in for the known digits, as `enroll` does), the same without the
    replay set, and with K clips of every known digit beside them."""
    import numpy as np

    model, _ = trainable_model(run_dir, csv_path, adapt_stages)
    with open(csv_path) as handle:
        test = [(row["path"], row["label"]) for row in csv.DictReader(handle) if row["split"] == "test"]
    ours = [(path, d, index) for path, d, _, index in recordings(fsdd_dir) if d == digit]
    new_test = [path for path, _, index in ours if index <= 4]
    pool = [path for path, _, index in ours if index > 4]
    with open(csv_path) as handle:
        known_pool = [(row["path"], row["label"]) for row in csv.DictReader(handle) if row["split"] == "train"]
    clips = [path for path, _ in test] + new_test + pool + [path for path, _ in known_pool]
    inputs, owners = model.windows(clips)  # each recording read once; `infer` scores them after each draw
    embeddings, owners = np.stack([model.infer(x)[1] for x in inputs]), np.array(owners)
    slot = model.slot(digit, add=True)
    truth = np.array([model.slot(label) for _, label in test] + [slot] * (len(new_test) + len(pool))
                     + [model.slot(label) for _, label in known_pool])
    old = np.arange(len(test))
    new = np.arange(len(test), len(test) + len(new_test))
    pool_clips = np.arange(new[-1] + 1, new[-1] + 1 + len(pool))
    known_clips = np.arange(pool_clips[-1] + 1, len(clips))
    scored = np.flatnonzero(owners < new[-1] + 1)  # the windows of the test recordings

    def top1(rows):
        logits = np.full((len(owners), model.max_classes), np.nan, np.float32)
        logits[scored] = window_logits(model, embeddings[scored], [inputs[i] for i in scored])
        return float(np.mean([logits[owners == clip].mean(0).argmax() == truth[clip] for clip in rows]))

    model.reset()
    results = {"old_top1_before": top1(old)}
    rng = np.random.default_rng(0)
    for variant in ("new_only", "new_only_without_replay", "with_known"):
        for k in ks:
            recall, kept = [], []
            for _ in range(draws):
                chosen = list(rng.choice(pool_clips, k, replace=False))
                if variant == "with_known":
                    for label in sorted(set(truth[known_clips])):
                        chosen += list(rng.choice(known_clips[truth[known_clips] == label], k, replace=False))
                model.reset()
                model.slot(digit, add=True)
                windows = np.flatnonzero(np.isin(owners, chosen))
                model.train(embeddings[windows], truth[owners[windows]], seed=int(rng.integers(1 << 31)),
                            replay=variant != "new_only_without_replay")
                recall.append(top1(new))
                kept.append(top1(old))
            results[f"{variant}_{k}"] = {"new_recall": recall, "old_top1": kept}
            print(f"{run_dir}: digit {digit} new from {k} clips ({variant}): recall {np.mean(recall):.3f}, other "
                  f"digits {np.mean(kept):.3f} (before {results['old_top1_before']:.3f})", flush=True)
    return results


def personalise(run_dir: str, csv_path: str, ks: list[int], draws: int, adapt_stages: int = 0) -> dict:
    """Top-1 on the held-out speaker's clips after enrolling K of its clips per digit on the device
    model: {"0": top-1 of the shipped head on all of them, "K": [top-1 of each draw]}.

    Each window's embedding comes from the int8 trainable model's `infer`; each draw starts from
    the shipped head, trains through `train` on the enrolled clips' windows, and scores the other
    clips with the head it produced (the float head `infer` applies to the same embeddings)."""
    import numpy as np

    model, entry = trainable_model(run_dir, csv_path, adapt_stages)
    with open(csv_path) as handle:
        test = [(row["path"], row["label"]) for row in csv.DictReader(handle) if row["split"] == "test"]
    inputs, owners = model.windows([path for path, _ in test])  # each recording read once
    embeddings, owners = np.stack([model.infer(x)[1] for x in inputs]), np.array(owners)
    truth = np.array([model.slot(label) for _, label in test])
    results = {"bytes": entry["bytes"]}

    def top1(clips):
        """Top-1 of `clips`, each scored as `classify_file` scores it: the mean of its windows' scores."""
        from keras_airn.inference.runtime import softmax

        scores = softmax(window_logits(model, embeddings, inputs))
        return float(np.mean([scores[owners == clip].mean(0).argmax() == truth[clip] for clip in clips]))

    results["0"] = top1(np.arange(len(test)))
    rng = np.random.default_rng(0)
    for k in ks:
        scores = []
        for _ in range(draws):
            chosen = np.concatenate([rng.choice(np.flatnonzero(truth == slot), k, replace=False)
                                     for slot in sorted(set(truth))])
            model.reset()
            windows = np.flatnonzero(np.isin(owners, chosen))  # every window of the enrolled clips
            model.train(embeddings[windows], truth[owners[windows]], seed=int(rng.integers(1 << 31)))
            scores.append(top1(np.setdiff1d(np.arange(len(test)), chosen)))
        results[str(k)] = scores
        print(f"{run_dir}: {k} clips per digit enrolled: top-1 {np.mean(scores):.3f} "
              f"(draws {', '.join(f'{x:.3f}' for x in scores)})", flush=True)
    return results


def plot_personalise(results: dict, path: str, adapt_stages: int = 0) -> None:
    """Top-1 on a held-out voice against the clips per digit enrolled on the device, a line per voice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for speaker, record in sorted(results.items()):
        ks = [0] + sorted(int(k) for k in record if k.isdigit() and k != "0")
        means = [record["0"]] + [float(np.mean(record[str(k)])) for k in ks[1:]]
        axes.plot(ks, means, marker="o", label=speaker)
    axes.set_xticks(ks)
    axes.set_xlabel("clips per digit enrolled on the device (int8 train signature)")
    axes.set_ylabel("top-1 on the speaker's other clips")
    learns = (f"the head and the last {adapt_stages} stages' pointwise layers learn" if adapt_stages
              else "the head learns")
    axes.set_title(f"FSDD, each speaker held out from base training (B0)\n{learns}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(title="held-out speaker", loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
