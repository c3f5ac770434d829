"""The training loop of `AudioClassifier.fit` (which `train.finetune` and `train.vggsound` call).

Checkpoints every epoch (model, optimizer state, epoch, RNG states) as one atomic unit and
resumes exactly: the data of each epoch depends only on (seed, epoch), see `pipeline`. The run
folder is locked for the run and a resume must use the run's settings (`run_state`). Evaluates
with multi-view averaging after precise-BN re-estimation and saves train-form and deploy
`.keras` files with a label map.

`fit` gathers its arguments into one `run.Run`, which the single-process loop here, the
multi-worker loop (`multi_worker`), the checkpoints (`checkpoints`) and the end of the run
(`evaluation`) share.
"""

from __future__ import annotations

import os
from typing import Sequence

import keras

from keras_airn.data.datasets import Split
from keras_airn.data.features import FrontEnd
from keras_airn.errors import KerasAirnError
from keras_airn.training import interrupt, run_state
from keras_airn.training.checkpoints import (
    EpochCheckpoint,
    TrainingDiverged,
    check_out_dir,
    diverged_message,
    prepare_out_dir,
    resume_state,
    start_run,
)
from keras_airn.training.distributed import make_strategy, synchronise_batchnorm
from keras_airn.training.evaluation import (
    EpochPreciseBN,
    compiled_metrics,
    estimate_precise_bn,
    evaluate,
    finish,
    precise_bn,
)
from keras_airn.training.multi_worker import fit_multi_worker
from keras_airn.training.recipes import TrainConfig, make_optimizer
from keras_airn.training.run import (
    Run,
    TrainResult,
    bad_audio_log,
    compile_model,
    metric_object,
    run_settings,
    shows_progress_bar,
)
from keras_airn.training.selection import SelectBest, random_crop_top1


# This module's names before the loop's parts had modules of their own, still imported from here.
__all__ = [
    "EpochCheckpoint", "EpochPreciseBN", "Run", "TrainConfig", "TrainResult", "TrainingDiverged", "bad_audio_log",
    "check_fit_options", "check_out_dir", "compile_model", "compiled_metrics", "diverged_message",
    "estimate_precise_bn", "evaluate", "fit", "make_optimizer", "metric_object", "resume_state", "run_settings",
    "shows_progress_bar",
]


def check_fit_options(config: TrainConfig, eval_split, strategy: str = "default", compiled: dict | None = None):
    """Refuses options `fit` cannot honour together, before anything is read or written.

    Args:
        config: the recipe.
        eval_split: the validation (test) `Split`, or None.
        strategy: "default", "mirrored" or "multi_worker".
        compiled: a user's serialised "optimizer", "loss" and/or "metrics", or None.

    Raises:
        KerasAirnError: naming the option and what it needs.
    """
    if config.select_best and eval_split is None:
        raise KerasAirnError("select_best picks the epoch with the best validation top-1: it needs validation "
                             "(test) data.")
    if strategy == "multi_worker":
        if config.select_best:
            raise KerasAirnError("select_best runs on the 'default' and 'mirrored' strategies only.")
        if compiled and set(compiled) - {"optimizer"}:
            raise KerasAirnError("strategy='multi_worker' trains with cross-entropy and accuracy: compile() a "
                                 "loss or metrics for the 'default' or 'mirrored' strategies only.")


def fit(
    build_model,
    train_split: Split,
    eval_split: Split | None,
    front_end: FrontEnd,
    config: TrainConfig,
    out_dir: str,
    *,
    resume: bool = False,
    strategy: str = "default",
    stop_after_epoch: int | None = None,
    bad_audio: str = "skip",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    compiled: dict | None = None,
    verbose="auto",
) -> TrainResult:
    """Trains, evaluates and saves a model.

    Args:
        build_model: zero-argument callable returning a fresh (uncompiled) model; called inside
            the distribution strategy's scope.
        train_split: training examples and label names.
        eval_split: held-out examples, or None.
        front_end: clip and feature settings.
        config: hyper-parameters (`TrainConfig.resolved` for this training set is what runs).
        out_dir: run directory (checkpoints, logs, final models).
        resume: continue the run in `out_dir`.
        strategy: "default", "mirrored" (local devices) or "multi_worker" (the workers `TF_CONFIG`
            names, see `distributed`); the last two synchronise BatchNorm over the replicas.
        stop_after_epoch: stop after this many epochs have run (to split a run in parts).
        bad_audio: "skip": a crop or evaluation clip that cannot be used (NaN/Inf samples, a file
            changed since the start-of-run check) is listed in `bad_audio_<train|test>.txt` and
            left out; "fail": the run stops naming the file.
        callbacks: Keras callbacks run with the training loop's; one that sets the model's
            `stop_training` (EarlyStopping) ends training after that epoch, and the run finishes
            (precise BN, files, evaluation) from there.
        compiled: a user's optimizer, loss and metrics instead of the recipe's (`compile_model`).
        verbose: "auto" (a progress bar, one line an epoch under CI), 0, 1 or 2, as Keras's.

    Returns:
        A `TrainResult`: the model and the summary (epochs run, metrics, output paths; also
        written to `out_dir/summary.json` when the run is complete).
    """
    run = Run(build_model, train_split, eval_split, front_end, config, out_dir, resume=resume, strategy=strategy,
              stop_after_epoch=stop_after_epoch, bad_audio=bad_audio, callbacks=callbacks, compiled=compiled,
              verbose=verbose)
    check_fit_options(run.config, run.eval_split, run.strategy, run.compiled)
    if run.strategy == "multi_worker":
        return fit_multi_worker(run)
    with run_state.RunLock(run.out_dir):
        return _fit_locked(run)


def _fit_locked(run: Run) -> TrainResult:
    """`fit` of `run` in this process, its folder locked."""
    prepare_out_dir(run.out_dir)
    distribution = make_strategy(run.strategy)
    with distribution.scope():
        keras.utils.set_random_seed(run.config.seed)
        fresh = run.build_model()
        settings = run.settings(fresh)
        model, first_epoch = resume_state(run.out_dir, run.resume, settings)
        dataset = run.train_data(min(first_epoch, run.last_epoch))
        if model is None:
            model = fresh
            compile_model(model, run.config, run.steps, run.compiled)
        if run.strategy != "default":
            synchronise_batchnorm(model)
    start_run(run, settings)
    epochs_done = run.last_epoch
    if first_epoch < run.last_epoch:
        epochs_done = _train_epochs(run, model, dataset, first_epoch)
    summary = {"epochs": epochs_done, "out_dir": run.out_dir}
    if run.stops_early(epochs_done):
        return TrainResult(model, summary)  # a partial run: resume later
    return finish(run, model, summary, precise_bn_done=run.precise_bn_each_epoch)


def _train_epochs(run: Run, model, dataset, first_epoch: int) -> int:
    """Keras's `fit` over epochs [first_epoch, last_epoch) with the run's callbacks; returns the
    epochs done (fewer where a callback stopped the run).

    Raises:
        TrainingDiverged: the loss stopped being finite.
    """
    config, callbacks = run.config, list(run.callbacks)
    checkpoints = EpochCheckpoint(run.out_dir, run.last_epoch, config.checkpoint_minutes)
    if config.select_best:  # after the epoch's precise BN, before its checkpoint
        callbacks.insert(0, SelectBest(run.out_dir, lambda epoch: random_crop_top1(
            model, run.eval_split, run.front_end, config.seed + 2, epoch, config.eval_batch_size),
            config.eval_period, run.last_epoch))
    if run.precise_bn_each_epoch:  # every epoch under "default"; under "mirrored" once, at the end
        callbacks.insert(0, EpochPreciseBN(lambda epoch: precise_bn(run, model, epoch)))
    with interrupt.between_steps():
        model.fit(
            dataset,
            epochs=run.last_epoch,
            initial_epoch=first_epoch,
            steps_per_epoch=run.steps,
            callbacks=[interrupt.StopOnInterrupt(), *callbacks, checkpoints,
                       keras.callbacks.TensorBoard(os.path.join(run.out_dir, "logs"))],
            verbose=run.verbose,
            shuffle=False,  # the pipeline shuffles, statelessly per (seed, epoch)
        )
    if checkpoints.diverged is not None:
        raise TrainingDiverged(diverged_message(run.out_dir, *checkpoints.diverged))
    return checkpoints.epochs_done or first_epoch
