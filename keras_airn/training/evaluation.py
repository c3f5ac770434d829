"""The end of a run: precise-BN re-estimation, the train-form and deploy `.keras` files, and the
multi-view evaluation of the held-out split, with the run's summary.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from absl import logging
from tqdm.auto import tqdm

from keras_airn import files
from keras_airn.data.datasets import Split
from keras_airn.data.features import FrontEnd
from keras_airn.errors import KerasAirnError
from keras_airn.inference.runtime import softmax
from keras_airn.network.deploy import reparameterize
from keras_airn.network.model import AudioRepInceptionNeXt
from keras_airn.training.bad_audio import BadAudioLog
from keras_airn.training.metrics import average_views, classification_metrics
from keras_airn.training.pipeline import eval_dataset, train_dataset
from keras_airn.training.precise_bn import recompute_batchnorm_statistics
from keras_airn.training.recipes import TrainConfig
from keras_airn.training.run import Run, TrainResult, metric_object, shows_progress_bar
from keras_airn.training.selection import restore_best


def evaluate(model, split: Split, front_end: FrontEnd, config: TrainConfig,
             bad_audio: BadAudioLog | None = None, *, compiled: dict | None = None, verbose="auto") -> dict[str, float]:
    """Multi-view evaluation: softmax averaged over evenly spaced crops of each example.

    Args:
        model: the network (spectrogram input).
        split: the examples.
        front_end: their settings.
        config: `eval_views` and `eval_batch_size`.
        bad_audio: where unreadable examples are listed; they are left out of the metrics
            (`skipped_examples` counts them). None: they end the evaluation.
        compiled: a user's serialised loss and metrics (`compile_model`), computed on the log of
            the averaged probabilities (the "loss" entry is then the user's loss).
        verbose: as Keras's: 0 and 2 hide the progress bar.

    Returns:
        `classification_metrics` of the examples, then the compiled metrics by name.
    """
    dataset = eval_dataset(
        split.examples, front_end, batch_size=config.eval_batch_size, views=config.eval_views, bad_audio=bad_audio
    )
    probabilities, labels, indices = [], [], []
    views = config.eval_views or front_end.eval_views
    total = -(-len(split.examples) * views // config.eval_batch_size)
    for features, label, index in tqdm(dataset, total=total, desc="evaluating", unit="batch", leave=False,
                                       disable=not shows_progress_bar(verbose)):
        probabilities.append(softmax(model.predict_on_batch(features)))  # Keras's cached predict function
        labels.append(label.numpy())
        indices.append(index.numpy())
    per_example, per_example_labels = average_views(
        np.concatenate(probabilities), np.concatenate(indices), np.concatenate(labels)
    )
    result = {}
    if bad_audio is not None and bad_audio.paths:
        skipped = set(bad_audio.paths)
        kept = np.array([example.path not in skipped for example in split.examples])
        if not kept.any():
            raise KerasAirnError(f"None of the {len(kept)} evaluation examples has usable audio.")
        per_example, per_example_labels = per_example[kept], per_example_labels[kept]
        result["skipped_examples"] = int((~kept).sum())
    metrics = classification_metrics(per_example, per_example_labels)
    return {**metrics, **compiled_metrics(compiled, per_example, per_example_labels), **result}


def compiled_metrics(compiled: dict | None, probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """A user's compiled loss ("loss") and metrics (by name) of averaged probabilities, given
    as logits log(p) as the network's outputs are logits."""
    compiled = compiled or {}
    logits = np.log(np.maximum(probabilities, np.finfo(np.float32).tiny)).astype(np.float32)
    result = {}
    if "loss" in compiled:
        result["loss"] = float(keras.losses.get(compiled["loss"])(labels, logits))  # checked by compile()
    for config in compiled.get("metrics", []):
        metric = metric_object(config)
        metric.update_state(labels, logits)
        result[metric.name] = float(metric.result())
    return result


def estimate_precise_bn(model, train_split, front_end, config: TrainConfig, epoch: int, steps: int,
                        bad_audio: BadAudioLog | None, verbose="auto") -> int:
    """The release's precise BN after `epoch`: at most `config.precise_bn_batches` augmented
    training batches, at most one pass (`min(NUM_BATCHES_PRECISE, len(loader))`), drawn as an
    epoch of the pipeline with seed `config.seed + 1` (a function of the epoch: resume stays
    exact). Returns the batches used; `verbose` as Keras's (`shows_progress_bar`)."""
    data, _ = train_dataset(train_split.examples, front_end, batch_size=config.batch_size, seed=config.seed + 1,
                            first_epoch=epoch, epochs=epoch + 1, **config.augmentation(front_end.num_frames),
                            bad_audio=bad_audio)
    return recompute_batchnorm_statistics(model, data, min(config.precise_bn_batches, steps),
                                          progress=shows_progress_bar(verbose))


def precise_bn(run: Run, model, epoch: int) -> int:
    """`estimate_precise_bn` of `run` after `epoch`, its bad audio listed in a log read afresh
    (it knows what training listed meanwhile)."""
    return estimate_precise_bn(model, run.train_split, run.front_end, run.config, epoch, run.steps,
                               run.bad_audio_log("train"), run.verbose)


class EpochPreciseBN(keras.callbacks.Callback):
    """Precise BN at the end of every epoch, before the checkpoint and any evaluation, as the
    release re-estimates BatchNorm statistics at every checkpoint epoch."""

    def __init__(self, estimate):
        super().__init__()
        self.estimate = estimate  # epoch -> batches used

    def on_epoch_end(self, epoch, logs=None):
        if np.isfinite(float((logs or {}).get("loss", 0.0))):
            self.estimate(epoch)


def finish(run: Run, model, summary: dict, precise_bn_done: bool = False) -> TrainResult:
    """After the last epoch: precise BN (unless every epoch had it), the train-form and deploy
    files, evaluation, summary. With `config.select_best`, all of it on the best epoch's weights."""
    config, out_dir = run.config, run.out_dir
    if config.select_best:
        best = restore_best(model, out_dir)
        summary["selected_epoch"] = best["epoch"]
        summary["selection_top1"] = best["top1"]
        logging.info("Selected epoch %d (validation top-1 %.4f on one random crop per clip).",
                     best["epoch"], best["top1"])
    if precise_bn_done:  # after every epoch, each over the same number of batches
        summary["precise_bn_batches"] = min(config.precise_bn_batches, run.steps)
    elif config.precise_bn_batches:
        summary["precise_bn_batches"] = precise_bn(run, model, summary["epochs"] - 1)
    paths = {"train_model": os.path.join(out_dir, "model_train.keras")}
    files.save_model(model, paths["train_model"])
    deploy = reparameterize(model) if isinstance(model, AudioRepInceptionNeXt) else None
    if deploy is not None:
        paths["deploy_model"] = os.path.join(out_dir, "model_deploy.keras")
        files.save_model(deploy, paths["deploy_model"])
    summary["paths"] = paths
    if run.eval_split is not None:
        summary["metrics"] = evaluate(deploy or model, run.eval_split, run.front_end, config,
                                      run.bad_audio_log("test"), compiled=run.compiled, verbose=run.verbose)
        logging.info("Evaluation: %s", summary["metrics"])
    files.write_json(os.path.join(out_dir, "summary.json"), summary)
    return TrainResult(model, summary)
