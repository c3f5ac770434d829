"""The baselines' measured speed beside the paper's Table V: tables for docs/baselines.md.

Reads one `edge.benchmark` run over the artifacts `make baselines` builds (build/baselines) and
writes the tables between the `<!-- tables:start -->` and `<!-- tables:end -->` markers of the
document (the prose around them is kept).

Usage:
  python -m edge.baselines_report --results build/baselines/results/results.csv \
      --artifacts_root build/baselines --doc docs/baselines.md
"""

from __future__ import annotations

import csv
import os
import re

from absl import app, flags

from keras_airn import cli

RESULTS = flags.DEFINE_string("results", None, "results.csv of the edge.benchmark run.")
ROOT = flags.DEFINE_string("artifacts_root", "build/baselines", "Folder holding the benchmarked artifacts.")
DOC = flags.DEFINE_string("doc", "docs/baselines.md", "Markdown file whose table section is replaced.")
COMMAND = flags.DEFINE_string("command", "make baselines", "The command named under the tables.")

START, END = "<!-- tables:start -->", "<!-- tables:end -->"
KINDS = {"litert_fp32": "LiteRT fp32", "litert_int8": "LiteRT int8", "onnx_fp32": "ORT fp32",
         "onnx_int8": "ORT int8"}
PAPER_REFERENCES = ("airn_b1", "airn_b0")


def artifact_key(name: str) -> tuple[str, str] | None:
    """(model, kind) of an artifact file name, e.g. ("airn_b1", "litert_fp32"); None if not one of ours."""
    match = re.fullmatch(r"(?:.*/)?(.+?)(?:_deploy|_train)?_spectrogram(?:_(fp32|int8|fp16|dynamic))?\.(tflite|onnx)",
                         name)
    if not match:
        return None
    model, precision, extension = match.groups()
    runtime = "litert" if extension == "tflite" else "onnx"
    return model, f"{runtime}_{precision or 'fp32'}"


def collect(results_csv: str, root: str) -> tuple[dict, dict]:
    """({model: {kind: median ms}}, {model: {"params", "macs", "bytes"}}) from one benchmark run."""
    latency, facts = {}, {}
    with open(results_csv) as handle:
        rows = list(csv.DictReader(handle))
    paths = {name: os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names}
    for row in rows:
        key = artifact_key(row["artifact"])
        if key is None:
            continue
        model, kind = key
        latency.setdefault(model, {})[kind] = float(row["median_ms"])
        info = facts.setdefault(model, {})
        if row.get("macs"):
            info.update(params=int(float(row["params"])), macs=int(float(row["macs"])))
        path = paths.get(os.path.basename(row["artifact"]))
        if kind == "litert_fp32" and path:
            info["bytes"] = os.path.getsize(path)
    return latency, facts


def tables(latency: dict, facts: dict, machine: str, command: str = "make baselines") -> str:
    """The markdown: counts against Table V, measured speed and ratios beside the paper's."""
    from keras_airn.network.baselines.published import PUBLISHED, VGGSOUND_CONFIG

    order = [m for m in PUBLISHED if m in latency] + sorted(set(latency) - set(PUBLISHED))
    kinds = [k for k in KINDS if any(k in latency[m] for m in order)]
    reference = {r: latency.get(r, {}).get("litert_fp32") for r in PAPER_REFERENCES}
    lines = [f"Measured on: {machine}. Batch 1, one thread, one interleaved run (`{command}`); "
             f"ratios are of medians; the paper's are of its phone latencies (Snapdragon 720G, ONNX Runtime "
             f"Mobile, fp32). Random weights: speed and size only.", "",
             "| model | params (M) paper / here | GMACs paper / here | " + " | ".join(KINDS[k] + " ms" for k in kinds)
             + " | fastest here | / B1 here (paper) | / B0 here (paper) | fp32 MB |",
             "|---|---|---|" + "---|" * len(kinds) + "---|---|---|---|"]
    for model in order:
        published, info, times = PUBLISHED.get(model), facts.get(model, {}), latency[model]
        native = "*" if published and published.count_config != VGGSOUND_CONFIG else ""
        paper_params = f"{published.params_m:.2f}{native}" if published else "-"
        paper_macs = f"{published.gmacs:.2f}{native}" if published else "-"
        here_params = f"{info['params'] / 1e6:.2f}" if info.get("params") else "-"
        here_macs = f"{info['macs'] / 1e9:.2f}" if info.get("macs") else "-"
        fastest = min(times, key=times.get)
        cells = [f"{times[k]:.1f}" if k in times else "-" for k in kinds]
        ratios = []
        for ref in PAPER_REFERENCES:
            here = times.get("litert_fp32")
            paper = PUBLISHED[ref].phone_ms
            here_text = f"{here / reference[ref]:.2f}" if here and reference[ref] else "-"
            paper_text = f"{published.phone_ms / paper:.2f}" if published and published.phone_ms else "-"
            ratios.append(f"{here_text} ({paper_text})")
        size = f"{info['bytes'] / 2**20:.1f}" if info.get("bytes") else "-"
        lines.append(f"| {model} | {paper_params} / {here_params} | {paper_macs} / {here_macs} | " + " | ".join(cells)
                     + f" | {KINDS[fastest]} | {ratios[0]} | {ratios[1]} | {size} |")
    lines += ["", "\\* published at the network's own setting (`keras_airn.network.baselines.published`); the counts "
              "here are at 309 classes, 512 x 128, as every latency in the table.",
              "", "Published accuracy (quoted, not measured here: no data can be downloaded):", "",
              "| model | accuracy as published |", "|---|---|"]
    lines += [f"| {model} | {PUBLISHED[model].accuracy} |" for model in order if model in PUBLISHED]
    return "\n".join(lines)


def main(argv):
    del argv
    from keras_airn.machine import machine_description

    if not RESULTS.value:
        raise app.UsageError("--results is required.")
    latency, facts = collect(RESULTS.value, ROOT.value)
    if not latency:
        raise app.UsageError(f"No artifact of ours in {RESULTS.value}.")
    text = open(DOC.value).read() if os.path.isfile(DOC.value) else f"# Baselines\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        raise app.UsageError(f"{DOC.value} has no {START} ... {END} section to fill.")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC.value, "w") as handle:
        handle.write(f"{head}{START}\n{tables(latency, facts, machine_description(), COMMAND.value)}\n{END}{tail}")
    print(f"wrote the tables of {DOC.value}")


if __name__ == "__main__":
    cli.run(main)
