"""Process settings TensorFlow reads once, at its import: set here, before keras_airn imports it.

oneDNN's custom operations (TensorFlow's default on x86) are turned off unless the user chose
otherwise with `TF_ENABLE_ONEDNN_OPTS`. With them on, fine-tuning with frozen BatchNorm corrupted
the native heap on an AVX-512 + VNNI CPU (glibc "double free or corruption", the process lost);
with them off the same run passed. Turning them off cost no training speed on the CPUs measured
(docs/reference.md, "TensorFlow settings").
"""

from __future__ import annotations

import os
import sys
import warnings

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's custom operations (imports TensorFlow)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def configure() -> None:
    """Turns oneDNN off for TensorFlow, or warns when TensorFlow was imported with it on first.

    A value the user gave `TF_ENABLE_ONEDNN_OPTS` is kept as it is.
    """
    if ONEDNN_VARIABLE in os.environ:
        return
    if "tensorflow" not in sys.modules:
        os.environ[ONEDNN_VARIABLE] = "0"
    elif onednn_enabled():
        warnings.warn(
            "TensorFlow was imported before keras_airn with oneDNN on: training with frozen BatchNorm "
            f"has crashed the process on AVX-512 CPUs. Set {ONEDNN_VARIABLE}=0 before importing TensorFlow "
            f"(or import keras_airn first); set it to 1 to keep oneDNN and silence this warning.",
            RuntimeWarning, stacklevel=3)
