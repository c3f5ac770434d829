"""`edge.benchmark`: times every artifact kind in one interleaved run and writes its reports."""

import csv
import os

import pytest

import keras_airn as ka
from keras_airn.export.onnx import export_onnx
from keras_airn.export.tflite import export
from edge.artifact_timing import benchmark, write_results
from keras_airn.features import FrontEnd

FRONT_END = FrontEnd(clip_seconds=1.28)


def test_benchmark_runs_all_kinds_and_writes_reports(tmp_path):
    model = ka.reparameterize(ka.create_model("b0", num_classes=5, stem_width=8, stage_widths=(8, 16, 32, 64),
                                              depths=(1, 1, 1, 1), expansion=2, num_frames=128))
    keras_path = str(tmp_path / "tiny.keras")
    model.save(keras_path)
    tflite = export(keras_path, str(tmp_path / "t"), ["fp32"], front_end=FRONT_END, num_eval=1)
    onnx = export_onnx(keras_path, str(tmp_path / "o"), front_end=FRONT_END)
    paths = [str(tmp_path / "t" / tflite["artifacts"]["fp32"]["file"]),
             str(tmp_path / "o" / onnx["onnx"]["file"]), keras_path]
    rows = benchmark(paths, threads=1, rounds=4, warmup=1)
    assert [r["artifact"] for r in rows] == [os.path.basename(p) for p in paths]
    assert rows[0]["ratio_to_first"] == pytest.approx(1.0)
    for row in rows:
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"] and row["init_ms"] > 0
    # Profiled from the .keras model, and for the exports from the model their reports name.
    assert rows[0]["macs"] == rows[1]["macs"] == rows[2]["macs"] > 0 and rows[2]["params"]
    write_results(rows, str(tmp_path / "out"), "header")
    with open(tmp_path / "out" / "results.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert (tmp_path / "out" / "results.md").read_text().startswith("header")
    assert (tmp_path / "out" / "latency.png").stat().st_size > 1000
    with pytest.raises(FileNotFoundError):
        benchmark([str(tmp_path / "missing.tflite")])
