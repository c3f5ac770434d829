"""ExecuTorch beside LiteRT: the PyTorch user's edge runtime on the same weights, timed in one
interleaved run against the project's LiteRT fp32 artifact (docs/benchmarks.md).

Runs in its own environment (torch, executorch and ai-edge-litert; not the project's), on what
`make bench` leaves in build/bench: the release's architecture (`tests/torch_reference.py`, the
independent re-implementation) loaded with `<model>_variants/release.pyth` (the same weights as
`<model>_deploy.keras`, re-parameterised), exported with `torch.export` and lowered to XNNPACK,
fp32 and int8 (PT2E, XNNPACK's symmetric per-channel quantizer, calibrated on 16 noise inputs:
speed only), each checked against PyTorch eager.

Usage:
  python3.11 -m venv build/etvenv && build/etvenv/bin/pip install torch==2.13.0 executorch==1.5.1 ai-edge-litert
  build/etvenv/bin/python scripts/executorch_peer.py --model b0 [--rounds 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.torch_reference import ReferenceNet  # noqa: E402

# The presets' shapes (keras_airn.network.registry), written out: this environment has no Keras.
PRESETS = {"b0": dict(stem=32, widths=(32, 64, 128, 256)), "b1": dict(stem=64, widths=(64, 128, 256, 512))}


def lowered(module, example, out_path: str) -> str:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = to_edge_transform_and_lower(torch.export.export(module, (example,)),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    with open(out_path, "wb") as handle:
        handle.write(program.buffer)
    return out_path


def quantized(net, example, calibration):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(net, (example,)).module(), quantizer)
    for x in calibration:
        prepared(x)
    return convert_pt2e(prepared)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(PRESETS), required=True)
    parser.add_argument("--bench_dir", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    torch.set_num_threads(1)
    portable_lib._unsafe_reset_threadpool(1)  # XNNPACK's pool: one thread, as every other row
    name = args.model
    net = ReferenceNet(num_classes=309, depths=(3, 4, 6, 3), expansion=4, kernels=(21, 11, 3), deploy=True,
                       **PRESETS[name])
    net.load_state_dict(torch.load(os.path.join(args.bench_dir, f"{name}_variants", "release.pyth"))["model_state"])
    net.eval()
    rng = np.random.default_rng(0)
    noise = [torch.from_numpy(rng.normal(-4.0, 2.0, (1, 1, 512, 128)).astype(np.float32)) for _ in range(17)]
    example, calibration = noise[0], noise[1:]
    out_dir = os.path.join(args.bench_dir, f"{name}_executorch")
    os.makedirs(out_dir, exist_ok=True)
    paths = {"fp32": lowered(net, example, os.path.join(out_dir, f"{name}_fp32.pte")),
             "int8": lowered(quantized(net, example, calibration), example, os.path.join(out_dir, f"{name}_int8.pte"))}
    with torch.no_grad():
        eager = net(example).numpy()
    runtime = Runtime.get()
    methods = {precision: runtime.load_program(path).load_method("forward") for precision, path in paths.items()}
    for precision, method in methods.items():
        logits = method.execute([example])[0].numpy()
        error = float(np.abs(logits - eager).max() / np.abs(eager).max())
        print(f"ExecuTorch {precision}: max relative logit error against PyTorch eager {error:.1e}")
    tflite = os.path.join(args.bench_dir, name, f"airn_{name}_deploy_spectrogram_fp32.tflite")
    interpreter = Interpreter(tflite, num_threads=1)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    x_rows = example.numpy().transpose(0, 2, 3, 1).copy()  # 1 x T x F x 1

    def litert():
        interpreter.set_tensor(index, x_rows)
        interpreter.invoke()

    runs = {"LiteRT fp32": litert, **{f"ExecuTorch XNNPACK {p}": (lambda m: lambda: m.execute([example]))(m)
                                      for p, m in methods.items()}}
    for run in runs.values():
        for _ in range(5):
            run()
    times = {label: [] for label in runs}
    for _ in range(args.rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    base = np.array(times["LiteRT fp32"])
    print(f"{name}, 1 thread, batch 1, 512 x 128, {args.rounds} interleaved rounds:")
    for label, values in times.items():
        values = np.array(values)
        print(f"| {label} | {np.median(values) * 1000:.2f} ms | {np.median(values / base):.3f} |")


if __name__ == "__main__":
    main()
