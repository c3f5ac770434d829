"""Running a TFLite interpreter over examples, float in and out (int8 tensors (de)quantised).

Depends on numpy only: `keras_airn.export.old_runtime` loads this file into the tflite-runtime 2.14
environment, which has neither this package nor NumPy 2.
"""

import numpy as np


def invoke_all(interpreter, inputs):
    """Runs `interpreter` (allocated) on each example of `inputs`; returns float32 outputs (of a
    trainable model, its `infer` signature's logits)."""
    signatures = interpreter.get_signature_list()
    if "infer" in signatures:  # keras_airn.export.trainable: several signatures, float input
        runner = interpreter.get_signature_runner("infer")
        key = signatures["infer"]["inputs"][0]
        return np.stack([runner(**{key: np.asarray(x, np.float32)[None]})["logits"][0] for x in inputs])
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    outputs = []
    for example in inputs:
        x = np.asarray(example, np.float32)[None]
        if source["dtype"] == np.int8:  # an end marker (NaN) cannot be quantised: zeros instead
            scale, zero = source["quantization"]
            x = np.where(np.isnan(x), np.float32(0), x)
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(target["index"])[0]
        if target["dtype"] == np.int8:
            scale, zero = target["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        outputs.append(y.astype(np.float32))
    return np.stack(outputs)
