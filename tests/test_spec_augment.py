"""SpecAugment against the release's own functions (recorded: tests/data/README.md)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_airn.training.spec_augment import (
    SpecAugmentConfig,
    draw_release_masks,
    draw_release_warp,
    release_masks,
    release_time_warp,
    release_warp_flow,
    spec_augment,
)

RECORDED = np.load(os.path.join(os.path.dirname(__file__), "data", "release_spec_augment.npz"))
SMALL = RECORDED["small_input"].T  # the release's (F, T) as keras_airn's (T, F)


@pytest.mark.parametrize("kind,axis", [("freq", 1), ("time", 0)])
def test_masks_equal_the_release_given_its_draws(kind, axis):
    for draws, expected in zip(RECORDED[f"small_{kind}_draws"], RECORDED[f"small_{kind}_out"]):
        np.testing.assert_allclose(release_masks(tf.constant(SMALL), draws, axis).numpy().T, expected, atol=1e-5)
    # Early stops happened (a first draw of 0) and masks were applied, so both paths were compared.
    draws = RECORDED[f"small_{kind}_draws"]
    assert (draws[:, 0, 0] == 0).any() and (draws[:, :, 2] > draws[:, :, 1]).any()


def test_time_warp_equals_the_release_given_its_draws():
    flows = RECORDED["small_warp_flows"][..., 1]
    assert np.abs(flows).max() > 10  # the release's warp moves frames far beyond W = 5
    for (frame, distance), normals, flow, expected in zip(
            RECORDED["small_warp_draws"], RECORDED["small_warp_normals"], flows, RECORDED["small_warp_out"]):
        np.testing.assert_allclose(release_warp_flow(tf.constant(SMALL.T), frame, distance, normals).numpy(), flow,
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(release_time_warp(tf.constant(SMALL), frame, distance, normals).numpy().T, expected,
                                   atol=5e-4)


def test_time_warp_flows_at_vggsound_size_equal_the_release_given_its_draws():
    image = np.zeros((128, 512), np.float32)
    image[64] = RECORDED["large_centre_row"]  # the only row the flow depends on
    ours = [np.abs(release_warp_flow(tf.constant(image), frame, distance, normals).numpy()).max()
            for (frame, distance), normals in zip(RECORDED["large_warp_draws"], RECORDED["large_warp_normals"])]
    np.testing.assert_allclose(ours, RECORDED["large_warp_max_flow"], rtol=1e-3, atol=1e-3)


def _masked(features, augmented, axis):
    return int((augmented != features).any(axis=axis).sum())


def test_stateless_draws_sample_as_the_release_does():
    """300 seeds of ours against the release's 300 on 512 x 128: the mean masked bands and frames,
    and how often the warp moves a frame more than 10, agree within four standard errors."""
    features = tf.constant(np.random.default_rng(0).normal(-4, 4, (512, 128)).astype(np.float32))
    image = tf.transpose(features).numpy()
    image[64] = RECORDED["large_centre_row"]
    bands, frames, far = [], [], []
    for seed in range(300):
        seeds = tf.random.experimental.stateless_split(tf.constant([seed, 3]), 3)
        freq = release_masks(features, draw_release_masks(seeds[0], 2, 27, 128), axis=1).numpy()
        time = release_masks(features, draw_release_masks(seeds[1], 2, 25, 512), axis=0).numpy()
        bands.append(_masked(features.numpy(), freq, 0))
        frames.append(_masked(features.numpy(), time, 1))
        flow = release_warp_flow(tf.constant(image), *draw_release_warp(seeds[2], 512, 5)).numpy()
        far.append(np.abs(flow).max() > 10)
    for ours, theirs in ((bands, RECORDED["large_freq_masked"]), (frames, RECORDED["large_time_masked"]),
                         (far, RECORDED["large_warp_max_flow"] > 10)):
        ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
        error = np.sqrt(ours.var() / len(ours) + theirs.var() / len(theirs))
        assert abs(ours.mean() - theirs.mean()) < 4 * error, (ours.mean(), theirs.mean(), error)
    # The clean style masks about twice as much (widths drawn once, every mask drawn).
    clean = [_masked(features.numpy(), spec_augment(features, tf.constant([seed, 3]), SpecAugmentConfig(
        style="clean", time_warp=0, time_masks=0)).numpy(), 0) for seed in range(100)]
    assert np.mean(clean) > 1.5 * np.mean(bands)


def test_release_style_is_deterministic_and_keeps_shape():
    features = tf.constant(np.random.default_rng(1).normal(size=(70, 128)).astype(np.float32))
    first = spec_augment(features, tf.constant([4, 2]))
    assert first.shape == (70, 128) and np.isfinite(first.numpy()).all()
    np.testing.assert_array_equal(first.numpy(), spec_augment(features, tf.constant([4, 2])).numpy())
    with pytest.raises(ValueError, match="style"):
        SpecAugmentConfig(style="paper")
