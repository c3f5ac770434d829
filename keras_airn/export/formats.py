"""One entry to every exporter: `export_network` picks TFLite, trainable TFLite, ONNX or
OpenVINO IR and checks that the options asked for fit the format (`AudioClassifier.export`)."""

from __future__ import annotations

from keras_airn.export.common import CALIBRATION_CLIPS, EVAL_CLIPS

FORMATS = ("tflite", "onnx", "openvino")


def export_network(network, out_dir: str, format: str = "tflite", precisions="fp32", *, front_end,
                   label_names, waveform: bool = False, examples=None, calibration_examples=None,
                   random_calibration: bool = False, int8_io: bool = False,
                   num_calibration: int = CALIBRATION_CLIPS, num_eval: int = EVAL_CLIPS, trainable: bool = False,
                   max_classes: int | None = None, time_as_rows: bool = True, int8_float_head: bool = True) -> dict:
    """Exports `network` in `format` with its parity report; the arguments are `AudioClassifier.export`'s.

    Args:
        examples, calibration_examples: lists of `Example` (evaluation, int8 calibration) or None.
        front_end, label_names: the network's `FrontEnd` and class names.
        time_as_rows: TFLite and OpenVINO: time-axis convolutions on the transposed layout.
        int8_float_head: TFLite and OpenVINO int8: keep the classifier head float.

    Returns:
        The report (also in `out_dir`).
    """
    data = dict(front_end=front_end, examples=examples, label_names=label_names, num_eval=num_eval,
                calibration_examples=calibration_examples, random_calibration=random_calibration,
                num_calibration=num_calibration)
    if trainable:
        from keras_airn.export.trainable import export_trainable

        if format != "tflite" or int8_io:
            raise ValueError("A trainable model is a .tflite file with float input and output.")
        return export_trainable(network, out_dir, precisions, waveform=waveform, max_classes=max_classes,
                                time_as_rows=time_as_rows, **data)
    if max_classes is not None:
        raise ValueError("max_classes goes with trainable=True.")
    if format not in FORMATS:
        raise ValueError(f"format must be 'tflite', 'onnx' or 'openvino', got {format!r}.")
    if format == "onnx":
        from keras_airn.export.onnx import export_onnx

        if waveform or int8_io:
            raise ValueError("ONNX export takes spectrogram input and float input/output.")
        return export_onnx(network, out_dir, precisions=precisions, **data)
    graph = dict(waveform=waveform, time_as_rows=time_as_rows, int8_float_head=int8_float_head)
    if format == "openvino":
        from keras_airn.export.openvino import export_openvino

        if int8_io:
            raise ValueError("OpenVINO export takes float input/output.")
        return export_openvino(network, out_dir, precisions=precisions, **graph, **data)
    from keras_airn.export.tflite import export

    return export(network, out_dir, precisions, int8_io=int8_io, **graph, **data)
