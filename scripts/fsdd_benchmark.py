"""Real recordings: train and evaluate on the Free Spoken Digit Dataset, write docs/real_audio.md.

FSDD (github Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0): 3000 recordings of the digits
0-9 by 6 speakers, 8 kHz, named `<digit>_<speaker>_<index>.wav`. The project downloads nothing:
clone it yourself and pass its folder. Splits, written as CSVs into --out_dir:
  official:      recordings 0-4 of every speaker and digit are the test set (300), the rest train;
  speaker_NAME:  NAME's 500 recordings are the test set, the other five speakers' train;
  speakers:      every speaker_NAME in turn (the table adds their mean);
  speaker_NAME_from_K:  NAME's 500 recordings are the test set, the first K of the other
                 speakers (alphabetically) train: how a voice never heard gains from more voices;
  official_without_D:  the official split without digit D: with --personalise, D is enrolled on
                 the device as a new class from K of its training recordings.
Each (model, split, recipe) trains with `python -m train.finetune --dataset csv` and default
flags otherwise, in its own process; a finished run is not run again (delete its folder to), an
interrupted one resumes. Results: OUT/results.json and OUT/table.md (docs/real_audio.md quotes it);
with speaker_NAME_from_K splits (default flags), OUT/voices.png: top-1 against the voices trained on.
With --personalise K1,K2,... every speaker_NAME run is exported to an int8 waveform trainable
`.tflite` (`convert.tflite --trainable`); K clips per digit of NAME are enrolled through its
`train` signature (`keras_airn.inference.personalise`, default epochs and batch) in --draws random draws,
and top-1 is measured on NAME's other clips: OUT/personalise.json, OUT/personalise.png
(scripts/fsdd_personalise.py); with --adapt_stages N the pointwise layers of the last N stages
learn too: OUT/personalise_adaptN.json and .png.

Usage:
  .venv/bin/python scripts/fsdd_benchmark.py --fsdd_dir free-spoken-digit-dataset \\
      --splits official,speaker_theo --models b0 --recipes small_data,release
  .venv/bin/python scripts/fsdd_benchmark.py --fsdd_dir free-spoken-digit-dataset --splits official \\
      --models b0,b1,bcresnet8,efficientat_mn10,yamnet --latency
--models takes presets and `keras_airn.network.baselines` networks. --latency exports every run to
spectrogram fp32/int8 .tflite and times them in one interleaved edge.benchmark run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
SPEAKER_SPLIT = re.compile(r"speaker_([a-z]+)(?:_from_(\d+))?")  # speaker_NAME, speaker_NAME_from_K
WITHOUT_DIGIT = re.compile(r"official_without_(\d)")  # official_without_D: digit D left out
VOICES_BESIDE_ONE = 5  # FSDD's speakers but the held-out one


def recordings(fsdd_dir: str) -> list[tuple[str, str, str, int]]:
    """(path, digit, speaker, index) of every recording in the clone's recordings/ folder."""
    folder = os.path.join(fsdd_dir, "recordings")
    if not os.path.isdir(folder):
        sys.exit(f"error: {folder} not found: pass a clone of free-spoken-digit-dataset as --fsdd_dir.")
    found = []
    for name in sorted(os.listdir(folder)):
        match = NAME.match(name)
        if match:
            found.append((os.path.abspath(os.path.join(folder, name)), match[1], match[2], int(match[3])))
    if not found:
        sys.exit(f"error: no <digit>_<speaker>_<index>.wav recordings in {folder}.")
    return found


def write_split(rows, path: str, split_of) -> dict:
    """Writes `path,label,split` of the rows `split_of(speaker, index, digit)` puts in "train" or
    "test" (None: left out); returns the split's counts."""
    counts = {"train": 0, "test": 0}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for audio, digit, speaker, index in rows:
            split = split_of(speaker, index, digit)
            if split:
                counts[split] += 1
                writer.writerow([audio, digit, split])
    return counts


def split_rule(name: str, speakers: list[str]):
    """`write_split`'s `split_of` for a split's name, or None for an unknown name."""
    if name == "official":
        return lambda speaker, index, digit: "test" if index <= 4 else "train"
    match = WITHOUT_DIGIT.fullmatch(name)
    if match:  # the official split with one digit left out of both sides: a class new to the model
        return lambda speaker, index, digit: None if digit == match[1] else "test" if index <= 4 else "train"
    match = SPEAKER_SPLIT.fullmatch(name)
    if not match or match[1] not in speakers:
        return None
    held, others = match[1], [speaker for speaker in speakers if speaker != match[1]]
    count = len(others) if match[2] is None else int(match[2])
    if not 1 <= count <= len(others):
        return None
    train = set(others[:count])
    return lambda speaker, index, digit: "test" if speaker == held else "train" if speaker in train else None


def split_files(fsdd_dir: str, out_dir: str, names: list[str]) -> dict[str, str]:
    """{split name: CSV path} for the requested splits."""
    rows = recordings(fsdd_dir)
    speakers = sorted({speaker for _, _, speaker, _ in rows})
    if "speakers" in names:  # every speaker held out in turn
        at = names.index("speakers")
        names = names[:at] + [f"speaker_{speaker}" for speaker in speakers] + names[at + 1:]
    paths = {}
    for name in names:
        rule = split_rule(name, speakers)
        if rule is None:
            sys.exit(f"error: unknown split {name!r}: official, official_without_<digit>, speakers, speaker_<one of "
                     f"{', '.join(speakers)}> or speaker_<name>_from_<1 to {len(speakers) - 1}>.")
        paths[name] = os.path.join(out_dir, f"fsdd_{name}.csv")
        counts = write_split(rows, paths[name], rule)
        print(f"{paths[name]}: {counts['train']} train / {counts['test']} test recordings")
    return paths


def run_step(command: list[str]) -> None:
    """Runs one of the project's entry points; if it fails, stops with one line (the entry
    point has printed why; finished runs are kept, and the same command goes on from there)."""
    code = subprocess.run(command, cwd=ROOT).returncode
    if code:
        raise SystemExit(f"error: {command[2]} stopped with exit status {code} (its message is above).")


def train(csv_path: str, model: str, recipe: str, run_dir: str, extra: list[str]) -> dict:
    """Runs train.finetune in its own process (its progress shows); returns the run's record."""
    summary_path = os.path.join(run_dir, "summary.json")
    record_path = os.path.join(run_dir, "benchmark.json")
    if os.path.isfile(record_path):
        with open(record_path) as handle:
            return json.load(handle)
    command = [sys.executable, "-m", "train.finetune", "--dataset", "csv", "--csv", csv_path, "--model", model,
               "--recipe", recipe, "--out_dir", run_dir, *extra]
    if os.path.isdir(run_dir):
        command.append("--resume")  # an interrupted run goes on where it stopped
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    run_step(command)
    minutes = (time.monotonic() - started) / 60
    with open(summary_path) as handle:
        summary = json.load(handle)
    with open(os.path.join(run_dir, "front_end.json")) as handle:
        clip_seconds = json.load(handle)["clip_seconds"]
    with open(os.path.join(run_dir, "run.json")) as handle:  # the settings the run resolved
        recipe_used = json.load(handle)["recipe"]
    record = {"model": model, "recipe": recipe, "top1": summary["metrics"]["top1"], "minutes": round(minutes, 1),
              "epochs": summary["epochs"], "batch_size": recipe_used["batch_size"], "clip_seconds": clip_seconds,
              "extra_flags": extra}
    with open(record_path, "w") as handle:
        json.dump(record, handle, indent=1)
    return record


def export_tflite(run_dir: str, csv_path: str) -> dict:
    """Converts a finished run to spectrogram fp32 and int8 `.tflite` (int8 calibrated on 200
    training recordings, both compared with Keras on the test recordings); returns their paths and
    the int8 artifact's agreement."""
    out_dir = os.path.join(run_dir, "tflite")
    report_path = os.path.join(out_dir, "report.json")
    if not os.path.isfile(report_path):
        command = [sys.executable, "-m", "convert.tflite", "--model", run_dir, "--precisions", "fp32,int8",
                   "--dataset", "csv", "--csv", csv_path, "--out_dir", out_dir]
        print("$", " ".join(command), flush=True)
        run_step(command)
    with open(report_path) as handle:
        report = json.load(handle)
    artifacts = report["artifacts"]
    return {"params": report["params"], "macs": report["macs"],
            "int8_agreement": artifacts["int8"]["top1_agreement"], "int8_top1": artifacts["int8"]["top1_accuracy"],
            "tflite": {precision: os.path.join(out_dir, entry["file"]) for precision, entry in artifacts.items()}}


def time_artifacts(results: dict, out_dir: str) -> None:
    """One interleaved `edge.benchmark` run (batch 1, one thread) over every run's fp32 and int8
    artifacts; adds each run's median milliseconds to its record."""
    paths = [path for record in results.values() for path in record["tflite"].values()]
    bench_dir = os.path.join(out_dir, "latency")
    command = [sys.executable, "-m", "edge.benchmark", "--artifacts", ",".join(paths), "--out_dir", bench_dir]
    print("$", " ".join(command), flush=True)
    run_step(command)
    with open(os.path.join(bench_dir, "results.csv")) as handle:
        rows = list(csv.DictReader(handle))  # one per artifact, in the order given, named by file name
    medians = iter(rows)
    for record in results.values():
        for precision, path in record["tflite"].items():
            row = next(medians)
            assert row["artifact"] == os.path.basename(path), (row["artifact"], path)
            record[f"{precision}_ms"] = float(row["median_ms"])


def held_out_speakers(results: dict) -> list[str]:
    """A line per (model, recipe, flags) run on more than one held-out speaker: mean and lowest top-1."""
    groups = {}
    for record in results.values():
        match = SPEAKER_SPLIT.fullmatch(record["split"])
        if match and match[2] is None:  # all five others train
            setting = (record["model"], record["recipe"], " ".join(record["extra_flags"]))
            groups.setdefault(setting, []).append((record["top1"], match[1]))
    lines = []
    for (model, recipe, flags), scores in groups.items():
        if len(scores) > 1:
            worst = min(scores)
            lines.append(f"- {model}, {recipe}{', ' + flags if flags else ''}: mean top-1 over {len(scores)} held-out "
                         f"speakers {sum(top1 for top1, _ in scores) / len(scores):.3f} (lowest {worst[0]:.3f}, {worst[1]})")
    return ["", *lines] if lines else []


def voices_curve(results: dict) -> dict[str, dict[int, float]]:
    """{"NAME held out, MODEL, RECIPE": {training voices: top-1}} of the default-flag runs of
    speaker_NAME_from_K splits (K voices) and speaker_NAME (all five others), where a from_K run exists."""
    curves = {}
    for record in results.values():
        match = SPEAKER_SPLIT.fullmatch(record["split"])
        if match and not record["extra_flags"]:
            voices = int(match[2]) if match[2] else VOICES_BESIDE_ONE
            label = f"{match[1]} held out, {record['model']}, {record['recipe']}"
            curves.setdefault(label, {})[voices] = record["top1"]
    return {label: dict(sorted(points.items())) for label, points in curves.items()
            if any(voices < VOICES_BESIDE_ONE for voices in points)}


def plot_voices(curves: dict[str, dict[int, float]], path: str) -> None:
    """Top-1 on a held-out voice against the number of voices trained on, one line per voice."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(6, 4))
    for label, points in curves.items():
        axis.plot(list(points), list(points.values()), marker="o", label=label)
    axis.axhline(0.9, color="grey", linestyle="--", linewidth=1, label="target 0.90")
    axis.axhline(0.1, color="grey", linestyle=":", linewidth=1, label="chance 0.10")
    axis.set_xticks(range(1, VOICES_BESIDE_ONE + 1))
    axis.set_ylim(0, 1)
    axis.set_xlabel("voices in the training set (500 recordings each)")
    axis.set_ylabel("top-1 on the held-out voice")
    axis.set_title("FSDD, default flags: top-1 on a voice never heard", fontsize=10)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    pyplot.close(figure)


def table(results: dict) -> str:
    """The results as a Markdown table, with the machine they were measured on."""
    sys.path.insert(0, ROOT)
    from keras_airn.machine import machine_description

    lines = [f"Machine: {machine_description()}", "",
             "| split | model | recipe | test top-1 | minutes | epochs | batch | crop (s) | flags |",
             "|---|---|---|---|---|---|---|---|---|"]
    for record in results.values():
        lines.append(f"| {record['split']} | {record['model']} | {record['recipe']} | {record['top1']:.3f} | "
                     f"{record['minutes']} | {record['epochs']} | {record['batch_size']} | {record['clip_seconds']} | "
                     f"{' '.join(record['extra_flags']) or '-'} |")
    lines += held_out_speakers(results)
    timed = [record for record in results.values() if "int8_ms" in record]
    if timed:
        lines += ["", "Spectrogram `.tflite` of each run, LiteRT, batch 1, one thread, one interleaved `edge.benchmark` "
                  "run (median ms); int8 calibrated on 200 training recordings, agreement with Keras on the test "
                  "recordings, one crop each.", "",
                  "| split | model | test top-1 (Keras) | params (M) | MMACs | LiteRT fp32 ms | LiteRT int8 ms | "
                  "int8 top-1 | int8 agreement |", "|---|---|---|---|---|---|---|---|---|"]
        for record in timed:
            lines.append(f"| {record['split']} | {record['model']} | {record['top1']:.3f} | {record['params'] / 1e6:.2f} | "
                         f"{record['macs'] / 1e6:.0f} | {record['fp32_ms']:.2f} | {record['int8_ms']:.2f} | "
                         f"{record['int8_top1']:.3f} | {record['int8_agreement']:.3f} |")
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    """The command line, checked; `ks` holds --personalise's clip counts, `out_dir` is absolute."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd_dir", required=True, help="A clone of free-spoken-digit-dataset.")
    parser.add_argument("--out_dir", default="build/fsdd", help="Split CSVs, runs and results.json.")
    parser.add_argument("--splits", default="official,speaker_theo", help="official, speaker_<name>, "
                        "speakers (all six in turn) and/or speaker_<name>_from_<K> (K other speakers train).")
    parser.add_argument("--models", default="b0", help="Presets or keras_airn.network.baselines networks (comma-separated).")
    parser.add_argument("--recipes", default="small_data", help="Recipes to compare (comma-separated).")
    parser.add_argument("--flags", default="", help="More train.finetune flags for every run, e.g. '--epochs 5'.")
    parser.add_argument("--latency", action="store_true", help="Also export each run to fp32/int8 .tflite and "
                        "time them all in one edge.benchmark run (params, MACs, latency, int8 agreement).")
    parser.add_argument("--personalise", default="", help="Clips per digit to enrol on the device model of every "
                        "speaker_NAME run, e.g. 1,3,5,10 (off when empty).")
    parser.add_argument("--draws", type=int, default=5, help="--personalise: random draws of the enrolled clips.")
    parser.add_argument("--adapt_stages", type=int, default=0, help="--personalise: the device model's last stages "
                        "whose pointwise layers learn beside the head (convert.tflite --adapt_stages).")
    args = parser.parse_args()
    try:
        ks = [int(k) for k in args.personalise.split(",") if k]
    except ValueError:
        sys.exit(f"error: --personalise takes whole numbers of clips per digit, got {args.personalise!r}.")
    if any(k < 1 for k in ks) or args.draws < 1:
        sys.exit("error: --personalise counts and --draws must be at least 1.")
    args.ks = ks
    args.out_dir = os.path.abspath(args.out_dir)  # the runs' processes start in the repository root
    return args


def main():
    from fsdd_personalise import new_class, personalise, plot_personalise  # scripts/ is on the path here

    args = parse_args()
    ks = args.ks
    suffix = f"_adapt{args.adapt_stages}" if args.adapt_stages else ""  # results of each device model kept apart
    os.makedirs(args.out_dir, exist_ok=True)
    csvs = split_files(args.fsdd_dir, args.out_dir, args.splits.split(","))
    results_path = os.path.join(args.out_dir, "results.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else {}
    for split, csv_path in csvs.items():
        for model in args.models.split(","):
            for recipe in args.recipes.split(","):
                key = f"{split}/{model}/{recipe}" + (f"/{args.flags}" if args.flags else "")
                run_dir = os.path.join(args.out_dir, "runs", re.sub(r"[^\w.-]+", "_", key))
                # A run measured again keeps what other flags measured on it (--personalise, --adapt_stages).
                results[key] = {**results.get(key, {}), "split": split,
                                **train(csv_path, model, recipe, run_dir, args.flags.split())}
                with open(results_path, "w") as handle:
                    json.dump(results, handle, indent=1)
                print(f"{key}: top-1 {results[key]['top1']:.3f} in {results[key]['minutes']} min", flush=True)
                if args.latency:
                    results[key].update(export_tflite(run_dir, csv_path))
                match, without = SPEAKER_SPLIT.fullmatch(split), WITHOUT_DIGIT.fullmatch(split)
                if ks and match and match[2] is None:
                    results[key][f"personalise{suffix}"] = personalise(run_dir, csv_path, ks, args.draws,
                                                                       args.adapt_stages)
                if ks and without:
                    results[key][f"new_class{suffix}"] = new_class(run_dir, csv_path, args.fsdd_dir, without[1], ks,
                                                                   args.draws, args.adapt_stages)
                    with open(results_path, "w") as handle:
                        json.dump(results, handle, indent=1)
    if args.latency:
        time_artifacts({key: record for key, record in results.items() if "tflite" in record}, args.out_dir)
    with open(results_path, "w") as handle:
        json.dump(results, handle, indent=1)
    personalised = {record["split"][len("speaker_"):]: record[f"personalise{suffix}"] for record in results.values()
                    if f"personalise{suffix}" in record}
    if personalised:
        with open(os.path.join(args.out_dir, f"personalise{suffix}.json"), "w") as handle:
            json.dump(personalised, handle, indent=1)
        plot_path = os.path.join(args.out_dir, f"personalise{suffix}.png")
        plot_personalise(personalised, plot_path, args.adapt_stages)
        print(f"{plot_path}: top-1 against the clips enrolled on the device")
    curves = voices_curve(results)
    if curves:
        plot_voices(curves, os.path.join(args.out_dir, "voices.png"))
        print(f"{os.path.join(args.out_dir, 'voices.png')}: top-1 against the voices trained on")
    report = table(results)
    with open(os.path.join(args.out_dir, "table.md"), "w") as handle:
        handle.write(report)
    print(report)


if __name__ == "__main__":
    main()
