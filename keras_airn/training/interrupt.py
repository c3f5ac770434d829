"""Ctrl-C during training, taken between steps.

Python raises `KeyboardInterrupt` wherever the main thread is when SIGINT arrives; inside
TensorFlow's step call that can be in the middle of a C-API call, which then fails with a
`SystemError` instead of the interrupt. While `between_steps()` is active, the first SIGINT is
only recorded, and `raise_if_requested()` (called after each step, by `StopOnInterrupt` under
`model.fit`) raises the `KeyboardInterrupt` in plain Python code. A second SIGINT interrupts at
once, as Python does by default.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import keras

_requested = False


def _record(signum, frame):
    global _requested
    if _requested:
        raise KeyboardInterrupt
    _requested = True


@contextlib.contextmanager
def between_steps():
    """Defers SIGINT to the next `raise_if_requested()` while the block runs (main thread only;
    elsewhere it changes nothing)."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested = False
    previous = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        requested, _requested = _requested, False
        if requested:
            raise KeyboardInterrupt


def raise_if_requested() -> None:
    """Raises `KeyboardInterrupt` when a SIGINT arrived inside `between_steps()`."""
    global _requested
    if _requested:
        _requested = False
        raise KeyboardInterrupt


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises the deferred interrupt after each training, evaluation or prediction batch."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_requested()

    def on_test_batch_end(self, batch, logs=None):
        raise_if_requested()

    def on_predict_batch_end(self, batch, logs=None):
        raise_if_requested()
