"""Records the release's SpecAugment draws and outputs as test data (tests/data/release_spec_augment.npz).

Runs the authors' own functions (slowfast/datasets/spec_augment.py and sparse_image_warp.py of
github StevenLauHKHK/AudioRepInceptionNeXt) in the environment they pinned (Python 3.7,
torch 1.7.1, numpy 1.21), on fixed inputs and seeds, and saves what they drew and produced.
Nothing of the release is copied: pass the folder holding those two files.

  python3.7 -m venv env && env/bin/pip install torch==1.7.1 numpy==1.21.6
  env/bin/python scripts/record_release_spec_augment.py --release_datasets DIR --out tests/data/release_spec_augment.npz

As in the release's datasets, a spectrogram is (1, mel bands, frames) when it reaches the
functions (the loaders' (1, frames, bands) permuted).
"""

import argparse
import importlib
import random
import sys
import types

import numpy as np
import torch

STAT_DRAWS = 300


class RecordingRandom:
    """Stands in for the `random` module inside the release's module: the same draws, logged."""

    def __init__(self):
        self.calls = []

    def randrange(self, *args):
        value = random.randrange(*args)
        self.calls.append(value)
        return value


def load_release(folder):
    package = types.ModuleType("release_datasets")
    package.__path__ = [folder]
    sys.modules["release_datasets"] = package
    return importlib.import_module("release_datasets.spec_augment")


def masks(module, function, spec, seed, width, count=2):
    """Output and the draws (f, start, end per mask, -1 where not drawn) of one mask function."""
    recorder = RecordingRandom()
    module.random = recorder
    random.seed(seed)
    out = function(spec, width, num_masks=count)
    module.random = random
    draws = np.full((count, 3), -1, np.int64)
    flat = recorder.calls
    for index in range(count):
        part = flat[3 * index: 3 * index + 3]
        draws[index, : len(part)] = part
    return out[0].numpy(), draws


def warp(module, spec, seed):
    """Output, dense flows, (index, distance) and the 3x3 normal draw of one time_warp call."""
    recorder = RecordingRandom()
    normals, flows = [], []
    original_randn, original_warp = torch.randn, module.sparse_image_warp

    def randn(*args, **kwargs):
        value = original_randn(*args, **kwargs)
        normals.append(value.numpy().copy())
        return value

    def sparse_image_warp(*args, **kwargs):
        image, dense = original_warp(*args, **kwargs)
        flows.append(dense[0].numpy().copy())
        return image, dense

    module.random, module.sparse_image_warp, torch.randn = recorder, sparse_image_warp, randn
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        out = module.time_warp(spec)
    finally:
        module.random, module.sparse_image_warp, torch.randn = random, original_warp, original_randn
    assert len(normals) == 1 and len(recorder.calls) == 2
    return out[0].numpy(), flows[0], np.array(recorder.calls), normals[0].reshape(3, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release_datasets", required=True, help="The release's slowfast/datasets folder.")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    module = load_release(args.release_datasets)
    rng = np.random.RandomState(0)
    record = {"torch_version": np.array(torch.__version__), "numpy_version": np.array(np.__version__)}

    # Exact cases on a small spectrogram: 16 bands x 48 frames, narrower masks (F=8, T=10).
    small = torch.tensor(rng.normal(-4.0, 4.0, (1, 16, 48)).astype(np.float32))
    record["small_input"] = small[0].numpy()
    for name, function, width in (("freq", module.freq_mask, 8), ("time", module.time_mask, 10)):
        outs, draws = zip(*(masks(module, function, small, seed, width) for seed in range(20)))
        record[f"small_{name}_out"], record[f"small_{name}_draws"] = np.stack(outs), np.stack(draws)
    outs, flows, draws, normals = zip(*(warp(module, small, seed) for seed in range(20)))
    record["small_warp_out"], record["small_warp_flows"] = np.stack(outs), np.stack(flows)
    record["small_warp_draws"], record["small_warp_normals"] = np.stack(draws), np.stack(normals)

    # Distributions at the VGG-Sound size, 128 bands x 512 frames, the release's F=27, T=25, W=5.
    large = torch.tensor(rng.normal(-4.0, 4.0, (1, 128, 512)).astype(np.float32))
    record["large_centre_row"] = large[0, 64].numpy()
    for name, function, width in (("freq", module.freq_mask, 27), ("time", module.time_mask, 25)):
        counts, all_draws = [], []
        for seed in range(STAT_DRAWS):
            out, draws = masks(module, function, large, seed, width)
            changed = out != large[0].numpy()
            counts.append(int(changed.any(axis=1 if name == "freq" else 0).sum()))
            all_draws.append(draws)
        record[f"large_{name}_masked"], record[f"large_{name}_draws"] = np.array(counts), np.stack(all_draws)
    flow_max, draws_all, normals_all = [], [], []
    for seed in range(STAT_DRAWS):
        _, flows, draws, normals = warp(module, large, seed)
        flow_max.append(float(np.abs(flows[..., 1]).max()))
        assert np.all(flows[..., 0] == 0)
        draws_all.append(draws)
        normals_all.append(normals)
    record["large_warp_max_flow"] = np.array(flow_max)
    record["large_warp_draws"], record["large_warp_normals"] = np.stack(draws_all), np.stack(normals_all)
    np.savez_compressed(args.out, **record)
    print(f"{args.out}: frequency masks cover {np.mean(record['large_freq_masked']):.2f} bands, time masks "
          f"{np.mean(record['large_time_masked']):.2f} frames on average; warp flow above 10 frames in "
          f"{int(np.sum(record['large_warp_max_flow'] > 10))} of {STAT_DRAWS}")


if __name__ == "__main__":
    main()
