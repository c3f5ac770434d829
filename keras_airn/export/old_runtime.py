"""Runs .tflite artifacts on tflite-runtime 2.14, which lives in its own environment.

tflite-runtime 2.14 is built against NumPy 1.x, so it cannot share the project's environment;
`make test` (or `make venv-tflite214`) builds `.venv-tflite214`, and `AIRN_TFLITE214_PYTHON`
can point at another interpreter. The child imports only numpy, tflite_runtime and
`keras_airn/inference/tflite_invoke.py` (by path).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import numpy as np

ENVIRONMENT = os.path.join(".venv-tflite214", "bin", "python")
# The repository root (an editable install or a checkout), then the working directory.
CANDIDATES = (os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ENVIRONMENT),
              os.path.abspath(ENVIRONMENT))

_CHILD = r"""
import json, sys, numpy as np
from tflite_runtime.interpreter import Interpreter
import importlib.util
invoke_file, model, inputs, output = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("tflite_invoke", invoke_file)
tflite_invoke = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tflite_invoke)
invoke_all = tflite_invoke.invoke_all
try:
    interpreter = Interpreter(model_path=model, num_threads=1)
    interpreter.allocate_tensors()
except Exception as error:
    print(json.dumps({"ok": False, "error": " ".join(str(error).split())})); sys.exit(0)
np.save(output, invoke_all(interpreter, np.load(inputs)))
print(json.dumps({"ok": True}))
"""


def old_runtime_python() -> str | None:
    """The interpreter that has tflite-runtime 2.14, or None if there is none."""
    if "AIRN_TFLITE214_PYTHON" in os.environ:
        python = os.environ["AIRN_TFLITE214_PYTHON"]
        return python if os.path.isfile(python) else None
    return next((python for python in CANDIDATES if os.path.isfile(python)), None)


def run_on_tflite_runtime_214(model_path: str, inputs: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Runs `model_path` on tflite-runtime 2.14.

    Returns:
        (logits, None) when it runs; (None, the runtime's error, e.g. a missing op version) when
        the runtime rejects the model.

    Raises:
        FileNotFoundError: no tflite-runtime 2.14 environment is available.
    """
    python = old_runtime_python()
    if python is None:
        raise FileNotFoundError("No tflite-runtime 2.14 environment: run `make venv-tflite214` or set "
                                "AIRN_TFLITE214_PYTHON.")
    with tempfile.TemporaryDirectory() as scratch:
        source, target = os.path.join(scratch, "in.npy"), os.path.join(scratch, "out.npy")
        np.save(source, inputs.astype(np.float32))
        library = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        invoke_file = os.path.join(library, "inference", "tflite_invoke.py")
        result = subprocess.run([python, "-c", _CHILD, invoke_file, model_path, source, target],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"tflite-runtime 2.14 crashed on {model_path}: {result.stderr[-2000:]}")
        status = json.loads(result.stdout.strip().splitlines()[-1])
        if not status["ok"]:
            return None, status["error"]
        return np.load(target), None
