"""Loading and timing of .tflite, .onnx, OpenVINO IR (.xml) and .keras artifacts, and the benchmark reports."""

from __future__ import annotations

import csv
import dataclasses
import os
import time

import numpy as np

from keras_airn.inference.artifacts import (artifact_kind, onnx_session, openvino_model, openvino_precision,
                                             tflite_interpreter)


@dataclasses.dataclass
class Runner:
    """One loaded artifact: a zero-argument inference call, what it took to load, its (params,
    MACs) where known and what the runtime reports it computes in (OpenVINO: "f32", "bf16")."""

    name: str
    run: object
    init_seconds: float
    memory_bytes: int
    profile: tuple[int | None, int | None] = (None, None)
    inference_precision: str | None = None


def resident_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _random_input(shape, dtype) -> np.ndarray:
    shape = [1 if (d is None or isinstance(d, str) or d < 0) else int(d) for d in shape]
    data = np.random.default_rng(0).normal(-4.0, 2.0, shape)
    if np.dtype(dtype) == np.int8:
        return np.clip(data * 10, -128, 127).astype(np.int8)
    return data.astype(np.float32)


def _tflite_call(path: str, threads: int):
    """(inference call, its input) of a .tflite; a trainable model runs its infer signature."""
    interpreter = tflite_interpreter(path, threads)  # names the file if it is not a model
    if "infer" in interpreter.get_signature_list():
        signature = interpreter.get_signature_runner("infer")
        key, source = next(iter(signature.get_input_details().items()))
        x = _random_input(source["shape"], source["dtype"])
        return (lambda: signature(**{key: x})), x
    source = interpreter.get_input_details()[0]
    x = _random_input(source["shape"], source["dtype"])

    def run():
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()

    return run, x


def _onnx_call(path: str, threads: int):
    """(inference call, its input) of an ONNX model on onnxruntime."""
    session = onnx_session(path, threads)
    source = session.get_inputs()[0]
    feed = {source.name: _random_input(source.shape, np.float32)}
    return (lambda: session.run(None, feed)), feed[source.name]


def _openvino_call(path: str, threads: int):
    """(inference call, its input, the precision OpenVINO computes in) of an IR."""
    compiled = openvino_model(path, threads)
    request = compiled.create_infer_request()
    x = _random_input(compiled.input(0).get_partial_shape().get_min_shape(), np.float32)
    return (lambda: request.infer([x])), x, openvino_precision(compiled)


def _keras_call(path: str):
    """(inference call, (params, MACs)) of a .keras model, at the frames of the front_end.json beside it."""
    import tensorflow as tf

    import keras_airn as ka

    model = ka.load_model(path)
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), "front_end.json")
    # The frames its front-end gives (as its exports have), else the release's 512.
    frames = ka.FrontEnd.load(beside).num_frames if os.path.isfile(beside) else 512
    shape = [1, model.input_shape[1] or frames, *model.input_shape[2:]]
    x = tf.constant(_random_input(shape, np.float32))
    infer = tf.function(lambda inputs: model(inputs, training=False))
    return (lambda: infer(x).numpy()), ka.profile(model, shape[1:3])


def load_runner(path: str, threads: int) -> Runner:
    """Loads an artifact with its runtime and returns a timed-callable wrapper."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No artifact at {path!r}.")
    before, start = resident_bytes(), time.perf_counter()
    name, kind, precision = os.path.basename(path), artifact_kind(path), None
    if kind == "keras":
        run, profile = _keras_call(path)
    elif kind == "openvino":
        run, x, precision = _openvino_call(path, threads)
    else:
        run, x = _onnx_call(path, threads) if kind == "onnx" else _tflite_call(path, threads)
    runner = Runner(name, run, time.perf_counter() - start, max(0, resident_bytes() - before),
                    inference_precision=precision)
    # After the timed load: profiling builds a Keras model, which must not count as init.
    runner.profile = profile if kind == "keras" else profile_artifact(path, x.shape)
    return runner


def conversion_report(path: str) -> dict | None:
    """The conversion report that lists this artifact, if any."""
    from keras_airn.export.common import report_entry

    return report_entry(path)[0]


def source_model(path: str) -> str | None:
    """The model an exported artifact came from, as its conversion report records it."""
    report = conversion_report(path)
    return report.get("model") if report else None


_PROFILES: dict = {}


def profile_source(path: str, frames: int, bins: int):
    """(params, MACs) of the form an artifact holds: from its conversion report (which records them
    at export), else from its source model ((None, None) if neither is known)."""
    report = conversion_report(path)
    if report and report.get("macs"):
        return report["params"], report["macs"]
    source = report.get("model") if report else None
    if source is None or not os.path.exists(source):
        return None, None
    train_form = "_train_" in os.path.basename(path)
    key = (source, train_form, frames, bins)
    if key not in _PROFILES:
        import keras_airn as ka
        from keras_airn.export.common import model_for_export

        model = model_for_export(source, keep_train_form=train_form)
        _PROFILES[key] = ka.profile(model, (frames, bins))
    return _PROFILES[key]


def profile_artifact(path: str, input_shape) -> tuple:
    """(params, MACs) of a spectrogram-input (rank-4) artifact from its source model, else (None, None)."""
    if len(input_shape) != 4:
        return None, None
    return profile_source(path, int(input_shape[1]), int(input_shape[2]))


def summarize(runner: Runner, first: float, latencies: np.ndarray) -> dict:
    ms = latencies * 1e3
    return {"artifact": runner.name, "init_ms": runner.init_seconds * 1e3, "first_ms": first * 1e3,
            "mean_ms": ms.mean(), "median_ms": np.median(ms), "std_ms": ms.std(), "min_ms": ms.min(),
            "p90_ms": np.percentile(ms, 90), "memory_mb": runner.memory_bytes / 2**20,
            "params": runner.profile[0], "macs": runner.profile[1], "inference_precision": runner.inference_precision}


def benchmark(paths, threads: int = 1, rounds: int = 30, warmup: int = 5) -> list[dict]:
    """Loads and times every artifact in interleaved rounds; returns one row each.

    Rows carry `ratio_to_first`: this artifact's median over the first artifact's, from
    per-round ratios.
    """
    from edge.timing import time_interleaved

    runners, firsts = [], {}
    basenames = [os.path.basename(p) for p in paths]
    for path in paths:
        runner = load_runner(path, threads)
        if basenames.count(runner.name) > 1:  # keep rows apart: parent/name
            runner.name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(path))), runner.name)
        start = time.perf_counter()
        runner.run()
        firsts[runner.name] = time.perf_counter() - start
        runners.append(runner)
    from keras_airn.machine import cpu_class, cpu_isa

    latencies = time_interleaved({r.name: r.run for r in runners}, rounds=rounds, warmup=warmup)
    reference = latencies[runners[0].name]
    rows, isa, machine_class = [], " ".join(cpu_isa()) or "unknown", cpu_class()
    for runner in runners:
        row = summarize(runner, firsts[runner.name], latencies[runner.name])
        row["ratio_to_first"] = float(np.median(latencies[runner.name] / reference))
        row.update(cpu_class=machine_class, isa=isa)
        rows.append(row)
    return rows


COLUMNS = ["artifact", "inference_precision", "init_ms", "first_ms", "mean_ms", "median_ms", "std_ms", "min_ms",
           "p90_ms", "memory_mb", "ratio_to_first", "params", "macs", "cpu_class", "isa"]


def write_results(rows: list[dict], out_dir: str, header: str, columns: list[str] = COLUMNS,
                  machine: str | None = None) -> None:
    """results.csv, results.md (with `header` above the table), latency.png (a bar per artifact)
    and, across two or more networks, latency_vs_macs.png.

    Args:
        rows: one dict per artifact (per configuration on a phone); missing cells print as "-".
        out_dir: created if needed.
        header: text above the markdown table (machine, method, command).
        columns: the table's columns, in order.
        machine: what the plot's title names as the machine (default: the rows' `cpu_class`).
    """
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def cell(value):
        if value is None:
            return "-"
        return f"{value:.3g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)

    lines = [header, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    with open(os.path.join(out_dir, "results.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")

    from edge.latency_plot import latency_against_compute, latency_bars

    machine = machine or next((row["cpu_class"] for row in rows if row.get("cpu_class")), "machine not recorded")
    labelled = [{**row, "label": row["artifact"] + (f" [{row['config']}]" if row.get("config") else "")}
                for row in rows]
    latency_bars(labelled, os.path.join(out_dir, "latency.png"), f"Latency per artifact ({machine})")
    latency_against_compute(rows, os.path.join(out_dir, "latency_vs_macs.png"),
                            f"Latency against compute ({machine})")


def gpu_throughput(path: str, batch: int = 32, warmup: int = 50, timed: int = 50) -> float:
    """The paper's GPU method for a .keras model: samples per second at batch 32."""
    import tensorflow as tf

    import keras_airn as ka

    model = ka.load_model(path)
    shape = [batch] + [d or 512 for d in model.input_shape[1:]]
    with tf.device("/GPU:0"):
        x = tf.constant(_random_input(shape, np.float32))
        infer = tf.function(lambda inputs: model(inputs, training=False))
        for _ in range(warmup):
            infer(x).numpy()
        start = time.perf_counter()
        for _ in range(timed):
            infer(x).numpy()
    return batch * timed / (time.perf_counter() - start)
