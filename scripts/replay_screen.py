"""How many replay rows per class an enrolment should mix in: a class left out of a folder's base
training is enrolled on the device alone from K of its training clips, with the first R replay
rows of each known class; its recall and the known classes' top-1 on the folder's test clips,
for each R (docs/personalise.md, "A class the model never learned").

The folder is `scripts/word_folders.py`'s layout, `FOLDER/{train,test}/<label>/<clip>`; the model a
trainable export (`convert.tflite --trainable --replay_per_class R_MAX`) of a run trained on the
folder without the left-out class (`--without` writes the CSV for that run):

  .venv/bin/python scripts/word_folders.py --out_dir build/folders --makes commands8
  .venv/bin/python scripts/replay_screen.py --folder build/folders/commands8 --new_label stop \\
      --without build/folders/commands8_without_stop.csv
  .venv/bin/python -m train.finetune --dataset csv --csv build/folders/commands8_without_stop.csv \\
      --model b0 --out_dir build/folders/runs/commands8_without_stop
  .venv/bin/python -m convert.tflite --model build/folders/runs/commands8_without_stop --trainable \\
      --waveform --precisions int8 --replay_per_class 20 --dataset csv \\
      --csv build/folders/commands8_without_stop.csv --out_dir build/folders/runs/commands8_without_stop/trainable
  .venv/bin/python scripts/replay_screen.py --folder build/folders/commands8 --new_label stop \\
      --model build/folders/runs/commands8_without_stop/trainable/airn_b0_deploy_waveform_int8_trainable.tflite
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def folder_clips(folder: str, split: str) -> list[tuple[str, str]]:
    """(path, label) of every clip under FOLDER/split/<label>/."""
    root = os.path.join(folder, split)
    return [(path, label) for label in sorted(os.listdir(root))
            for path in sorted(glob.glob(os.path.join(root, label, "*")))]


def write_without(folder: str, new_label: str, path: str) -> None:
    """A `path,label,split` CSV of the folder's clips without `new_label`'s."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for split in ("train", "test"):
            writer.writerows([os.path.abspath(p), label, split] for p, label in folder_clips(folder, split)
                             if label != new_label)


def screen(model_path: str, folder: str, new_label: str, rows: list[int], k: int, draws: int) -> dict:
    """{R: (mean recall of the new class, mean top-1 of the known ones)} over `draws` draws of `k`
    clips, and "before": the known classes' top-1 with the shipped head."""
    from keras_airn.inference.personalise import TrainableModel
    from keras_airn.inference.runtime import softmax

    model = TrainableModel(model_path)
    test = folder_clips(folder, "test")
    pool = [path for path, label in folder_clips(folder, "train") if label == new_label]
    inputs, owners = model.windows([path for path, _ in test] + pool)
    embeddings, owners = np.stack([model.infer(x)[1] for x in inputs]), np.array(owners)
    slot = model.slot(new_label, add=True)
    truth = np.array([slot if label == new_label else model.slot(label) for _, label in test] + [slot] * len(pool))
    known = np.array([i for i, (_, label) in enumerate(test) if label != new_label])
    new = np.array([i for i, (_, label) in enumerate(test) if label == new_label])

    def top1(clips):
        """Top-1 of `clips`, each scored as `edge.classify` scores it: the mean of its windows' scores."""
        scores = softmax(model.head().logits(embeddings))
        return float(np.mean([scores[owners == clip].mean(0).argmax() == truth[clip] for clip in clips]))

    model.reset()
    results = {"before": top1(known)}
    for count in rows:
        rng = np.random.default_rng(0)
        recall, kept = [], []
        for _ in range(draws):
            chosen = rng.choice(np.arange(len(test), len(test) + len(pool)), k, replace=False)
            model.reset()
            model.slot(new_label, add=True)
            windows = np.flatnonzero(np.isin(owners, chosen))
            extra, extra_slots = model.replay_rows({slot})
            first = np.concatenate([np.flatnonzero(extra_slots == s)[:count] for s in sorted(set(extra_slots))])
            model.train(np.concatenate([embeddings[windows], extra[first]]),
                        np.concatenate([truth[owners[windows]], extra_slots[first]]),
                        seed=int(rng.integers(1 << 31)), replay=False)
            recall.append(top1(new))
            kept.append(top1(known))
        results[count] = (float(np.mean(recall)), float(np.mean(kept)))
        print(f"R = {count}: recall of {new_label} {results[count][0]:.3f}, known classes {results[count][1]:.3f} "
              f"(before {results['before']:.3f})", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="FOLDER/{train,test}/<label>/<clip>")
    parser.add_argument("--new_label", required=True, help="the class left out of base training")
    parser.add_argument("--without", help="write the CSV of the folder without --new_label here and stop")
    parser.add_argument("--model", help="the trainable .tflite of the run trained without --new_label")
    parser.add_argument("--rows", default="0,3,5,10,20", help="replay rows per known class to try")
    parser.add_argument("--k", type=int, default=5, help="clips of the new class enrolled")
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.folder, "train")) or not os.path.isdir(os.path.join(args.folder, "test")):
        sys.exit(f"error: {args.folder} has no train/ and test/ folders (scripts/word_folders.py writes them).")
    if args.without:
        write_without(args.folder, args.new_label, args.without)
        print(f"wrote {args.without}")
        return
    if not args.model:
        sys.exit("error: give --model (or --without to write the base run's CSV).")
    screen(args.model, args.folder, args.new_label, [int(x) for x in args.rows.split(",")], args.k, args.draws)


if __name__ == "__main__":
    main()
