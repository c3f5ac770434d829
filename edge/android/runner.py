"""Runs .tflite artifacts on an Android phone with the TFLite `benchmark_model` binary over adb.

One run per (artifact, configuration): CPU with XNNPACK at 1 and 4 threads, TFLite's own CPU
kernels (XNNPACK off), the GPU delegate and NNAPI. Each run's output is written to a log on the
phone, pulled next to the results, parsed (`edge.android.benchmark_log`) and turned into the
same table `edge.benchmark` writes.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess

# name -> benchmark_model flags. `--use_xnnpack=true` makes the tool log whether XNNPACK took
# the whole graph, like the GPU and NNAPI delegates do.
CONFIGS = {
    "cpu_1t": ["--num_threads=1", "--use_xnnpack=true"],
    "cpu_4t": ["--num_threads=4", "--use_xnnpack=true"],
    "builtin_1t": ["--num_threads=1", "--use_xnnpack=false"],
    "gpu": ["--use_gpu=true"],
    "nnapi": ["--use_nnapi=true"],
}
REMOTE_DIR = "/data/local/tmp/keras_airn"


@dataclasses.dataclass
class AndroidTarget:
    """Where and how to run: the adb binary, an optional device serial and the phone's folder."""

    adb: str = "adb"
    serial: str | None = None
    remote_dir: str = REMOTE_DIR
    taskset: str | None = None  # CPU affinity mask, e.g. "f0" for the big cores of some phones

    def adb_command(self, *args: str) -> list[str]:
        return [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)


def tflite_files(folder: str | None) -> list[str]:
    """Every .tflite under `folder` (recursively, sorted); [] for None. Raises if it has none."""
    if folder is None:
        return []
    found = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.endswith(".tflite"))
    if not found:
        raise FileNotFoundError(f"No .tflite files under {folder!r}.")
    return found


def log_name(artifact: str, config: str) -> str:
    """File name of one run's log: `<artifact stem>__<config>.log`."""
    return f"{os.path.splitext(os.path.basename(artifact))[0]}__{config}.log"


def setup_commands(target: AndroidTarget, binary: str, artifacts: list[str]) -> list[list[str]]:
    """Commands that create the phone's folder and push the binary and the artifacts."""
    remote = target.remote_dir
    commands = [target.adb_command("shell", f"mkdir -p {shlex.quote(remote + '/logs')}"),
                target.adb_command("push", binary, f"{remote}/benchmark_model"),
                target.adb_command("shell", f"chmod +x {shlex.quote(remote + '/benchmark_model')}")]
    commands += [target.adb_command("push", path, f"{remote}/{os.path.basename(path)}") for path in artifacts]
    return commands


def run_command(target: AndroidTarget, artifact: str, config: str, num_runs: int = 50,
                warmup_runs: int = 5) -> list[str]:
    """The `adb shell` command of one benchmark run; its output goes to a log on the phone."""
    if config not in CONFIGS:
        raise ValueError(f"Unknown configuration {config!r}; known: {', '.join(CONFIGS)}.")
    remote = target.remote_dir
    tool = ([f"taskset {target.taskset}"] if target.taskset else []) + [
        shlex.quote(f"{remote}/benchmark_model"),
        shlex.quote(f"--graph={remote}/{os.path.basename(artifact)}"),
        *CONFIGS[config],
        f"--warmup_runs={warmup_runs}", f"--num_runs={num_runs}",
        "--report_peak_memory_footprint=true",
    ]
    log = shlex.quote(f"{remote}/logs/{log_name(artifact, config)}")
    return target.adb_command("shell", " ".join(tool) + f" > {log} 2>&1")


def pull_command(target: AndroidTarget, artifact: str, config: str, log_dir: str) -> list[str]:
    """The command that copies one run's log from the phone into `log_dir`."""
    name = log_name(artifact, config)
    return target.adb_command("pull", f"{target.remote_dir}/logs/{name}", os.path.join(log_dir, name))


def _call(command: list[str], check: bool = True) -> None:
    print("$", shlex.join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()}")


def run_on_phone(target: AndroidTarget, binary: str, artifacts: list[str], configs: list[str],
                 log_dir: str, num_runs: int = 50, warmup_runs: int = 5) -> None:
    """Pushes everything, runs every (artifact, configuration) pair and pulls the logs.

    A run that fails on the phone (a delegate that does not apply, say) still leaves its log,
    which the table reports; adb itself failing (no device, a push refused) raises.
    """
    for path in [binary] + list(artifacts):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No file at {path!r}.")
    os.makedirs(log_dir, exist_ok=True)
    for command in setup_commands(target, binary, artifacts):
        _call(command)
    from tqdm.auto import tqdm

    for artifact in tqdm(artifacts, desc="artifacts", unit="model"):
        for config in configs:
            _call(run_command(target, artifact, config, num_runs, warmup_runs), check=False)
            _call(pull_command(target, artifact, config, log_dir))


COLUMNS = ["artifact", "config", "delegate", "init_ms", "first_ms", "mean_ms", "median_ms", "std_ms", "min_ms",
           "p95_ms", "memory_mb", "ratio_to_first", "params", "macs"]


def collect_rows(log_dir: str, artifacts: list[str] | None = None) -> list[dict]:
    """One table row per pulled log, in `edge.benchmark`'s units (ms, MB).

    Args:
        log_dir: folder of `<artifact stem>__<config>.log` files.
        artifacts: the local artifacts, in table order; their conversion reports give params and
            MACs. Without them, every log in the folder is reported, sorted by name.

    Returns:
        Rows; a failed run keeps its row with the tool's reason under `delegate` and no timings.
        `ratio_to_first` is the mean over the first artifact's mean in the same configuration.
    """
    from edge.android.benchmark_log import BenchmarkLogError, parse

    names = sorted(f for f in os.listdir(log_dir) if f.endswith(".log") and "__" in f)
    by_stem = {os.path.splitext(os.path.basename(p))[0]: p for p in artifacts or []}
    order = list(by_stem) if artifacts else sorted({n.rsplit("__", 1)[0] for n in names})
    rows = []
    for stem in order:
        for config in [c for c in CONFIGS if f"{stem}__{c}.log" in names]:
            with open(os.path.join(log_dir, f"{stem}__{config}.log"), errors="replace") as handle:
                text = handle.read()
            row = {"artifact": stem, "config": config}
            try:
                log = parse(text)
            except BenchmarkLogError as error:
                rows.append({**row, "delegate": f"run failed: {str(error).split(': ', 1)[1]}"})
                continue
            ms = lambda us: None if us is None else us / 1e3  # noqa: E731
            memory = log.peak_memory_mb if log.peak_memory_mb is not None else log.memory_overall_mb
            row.update(delegate="; ".join(map(str, log.delegates)) or "-", init_ms=ms(log.init_us),
                       first_ms=ms(log.first_us), mean_ms=ms(log.avg_us), median_ms=ms(log.median_us),
                       std_ms=ms(log.std_us), min_ms=ms(log.min_us), p95_ms=ms(log.p95_us), memory_mb=memory)
            rows.append(row)
    for row in rows:
        first = next((r for r in rows if r["config"] == row["config"] and r.get("mean_ms")), None)
        if row.get("mean_ms") and first:
            row["ratio_to_first"] = row["mean_ms"] / first["mean_ms"]
        if path := by_stem.get(row["artifact"]):
            row["params"], row["macs"] = _profile(path)
    return rows


def _profile(path: str):
    """(params, MACs) of a local artifact, read with its input shape."""
    from ai_edge_litert.interpreter import Interpreter

    from edge.artifact_timing import profile_artifact

    return profile_artifact(path, Interpreter(model_path=path).get_input_details()[0]["shape"])
