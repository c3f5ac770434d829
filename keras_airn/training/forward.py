"""The bridge between `AudioClassifier.fit` and the training loop: a Keras callback inside the
network's `fit` that passes its events on to the user's callbacks, which see the classifier as
their model."""

from __future__ import annotations

import keras

from keras_airn.training.evaluation import evaluate


class ForwardTraining(keras.callbacks.Callback):
    """Runs inside the network's training loop and passes its events on to the user's callbacks
    (bound to the classifier); adds `val_*` logs every `validation_freq` epochs; a stop request
    on the classifier (EarlyStopping) stops the network. The last epoch's end waits for `finish`,
    which brings the final (precise-BN, multi-view) validation."""

    def __init__(self, classifier, callbacks, verbose, eval_split, validation_freq, config):
        """Starts training on the user's `callbacks` (their `on_train_begin`) with a `History`.

        Args:
            classifier: the `AudioClassifier` the callbacks see as their model.
            callbacks: the user's Keras callbacks, or None.
            verbose: as Keras's.
            eval_split: the validation `Split`, or None.
            validation_freq: evaluate every this many epochs (None: after the last only).
            config: the resolved recipe.
        """
        super().__init__()
        self.classifier, self.last_epoch = classifier, config.epochs
        self.history = keras.callbacks.History()
        self.callbacks = keras.callbacks.CallbackList(
            [*(callbacks or []), self.history], model=classifier, verbose=verbose, epochs=config.epochs)
        self.eval_split, self.validation_freq, self.config = eval_split, validation_freq, config
        self._pending: tuple[int, dict] | None = None
        classifier.stop_training = False
        self.callbacks.on_train_begin()

    def on_epoch_begin(self, epoch, logs=None):
        self.callbacks.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.callbacks.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.callbacks.on_train_batch_end(batch, logs)
        self._pass_stop()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if epoch + 1 == self.last_epoch:
            self._pending = (epoch, logs)
            return
        if self.eval_split is not None and self.validation_freq and (epoch + 1) % self.validation_freq == 0:
            metrics = evaluate(self.model, self.eval_split, self.classifier.front_end, self.config, verbose=0)
            logs.update({f"val_{k}": v for k, v in metrics.items()})
        self.callbacks.on_epoch_end(epoch, logs)
        self._pass_stop()
        if self.model.stop_training:
            self._pending = None

    def finish(self, result) -> keras.callbacks.History:
        """Ends training: the classifier takes the trained weights and optimizer of `result`
        (`trainer.fit`'s); the final validation (its summary's metrics) goes to the last epoch's
        end (held back for it) or, where the run stopped early, to its last epoch's logs.

        Returns:
            The `History` (also `classifier.history`), its `summary` the run's.
        """
        network = self.classifier.network
        if result.model is not network:  # resumed from a checkpoint
            network.set_weights(result.model.get_weights())
        if getattr(result.model, "optimizer", None) is not None:  # multi-worker: on the replicated copy only
            self.classifier.optimizer = result.model.optimizer
        validation = {f"val_{k}": v for k, v in result.summary.get("metrics", {}).items()}
        if self._pending is not None:
            epoch, logs = self._pending
            self.callbacks.on_epoch_end(epoch, {**logs, **validation})
        elif validation and self.history.epoch:  # stopped early: that epoch's logs get the final evaluation
            logs = self.history.history
            done = len(self.history.epoch)
            for name, value in validation.items():
                values = logs.setdefault(name, [])
                if len(values) == done:
                    values[-1] = value
                else:
                    values.append(value)
        self.callbacks.on_train_end()
        self.history.summary = result.summary
        self.classifier.history = self.history
        return self.history

    def _pass_stop(self):
        if getattr(self.classifier, "stop_training", False):
            self.model.stop_training = True
