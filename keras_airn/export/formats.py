"""One entry to every exporter: `export_network` picks TFLite, trainable TFLite, ONNX or
OpenVINO IR and checks that the options asked for fit the format (`AudioClassifier.export`)."""

from __future__ import annotations

from keras_airn.export.common import CALIBRATION_CLIPS, EVAL_CLIPS, ConversionError

FORMATS = ("tflite", "onnx", "openvino")


def export_network(network, out_dir: str, format: str = "tflite", precisions="fp32", *, front_end,
                   label_names, waveform: bool = False, examples=None, calibration_examples=None,
                   random_calibration: bool = False, int8_io: bool = False,
                   num_calibration: int = CALIBRATION_CLIPS, num_eval: int = EVAL_CLIPS, trainable: bool = False,
                   max_classes: int | None = None, time_as_rows: bool | None = None, int8_float_head: bool = True,
                   keep_train_form: bool = False, sample_rate: int | None = None, source: str | None = None,
                   adapt_stages: int = 0, replay_per_class: int | None = None, **format_options) -> dict:
    """Exports `network` in `format` with its parity report: what `AudioClassifier.export` and
    the `convert.tflite`, `convert.onnx` and `convert.openvino` tools call.

    Args:
        network: the network, or a model file (.keras, .pyth).
        format, precisions, waveform, random_calibration, int8_io, num_calibration, num_eval,
            trainable, max_classes: as `AudioClassifier.export`'s.
        examples, calibration_examples: lists of `Example` (evaluation, int8 calibration) or None.
        front_end, label_names: the network's `FrontEnd` and class names.
        time_as_rows: TFLite's and OpenVINO's time-axis layout (None: each one's faster).
        int8_float_head: TFLite and OpenVINO int8: keep the classifier head float.
        keep_train_form: export the train form as it is (no re-parameterisation; not trainable).
        sample_rate: waveform input at this rate (TFLite, OpenVINO; default: the front-end's).
        source: the model's name in the report.
        adapt_stages, replay_per_class, **format_options: trainable `adapt_stages`,
            `replay_per_class` (None: its default), `learning_rate`; ONNX `opset`, `int8_scheme`.

    Returns:
        The report (also in `out_dir`).
    """
    data = dict(front_end=front_end, examples=examples, label_names=label_names, num_eval=num_eval,
                calibration_examples=calibration_examples, random_calibration=random_calibration,
                num_calibration=num_calibration, source=source, **format_options)
    if trainable:
        from keras_airn.export.replay import DEFAULT_REPLAY_PER_CLASS
        from keras_airn.export.trainable import export_trainable

        if format != "tflite" or int8_io:
            raise ConversionError("A trainable model is a .tflite file with float input and output.")
        if keep_train_form or sample_rate is not None:
            raise ConversionError("A trainable model is built from the deploy form at the front-end's sample rate: "
                             "drop --keep_train_form and --sample_rate.")
        return export_trainable(network, out_dir, precisions, waveform=waveform, max_classes=max_classes,
                                time_as_rows=time_as_rows is not False, adapt_stages=adapt_stages,
                                replay_per_class=DEFAULT_REPLAY_PER_CLASS if replay_per_class is None
                                else replay_per_class, **data)
    if max_classes is not None or adapt_stages or replay_per_class is not None:
        raise ConversionError("max_classes, adapt_stages and replay_per_class go with trainable=True.")
    if format not in FORMATS:
        raise ConversionError(f"format must be 'tflite', 'onnx' or 'openvino', got {format!r}.")
    if format == "onnx":
        from keras_airn.export.onnx import export_onnx

        if waveform or int8_io or sample_rate is not None:
            raise ConversionError("ONNX export takes spectrogram input and float input/output.")
        return export_onnx(network, out_dir, precisions=precisions, keep_train_form=keep_train_form, **data)
    graph = dict(waveform=waveform, time_as_rows=time_as_rows is not False, int8_float_head=int8_float_head,
                 keep_train_form=keep_train_form, sample_rate=sample_rate)
    if format == "openvino":
        from keras_airn.export.openvino import export_openvino

        if int8_io:
            raise ConversionError("OpenVINO export takes float input/output.")
        return export_openvino(network, out_dir, precisions=precisions, **{**graph, "time_as_rows": time_as_rows}, **data)
    from keras_airn.export.tflite import export

    return export(network, out_dir, precisions, int8_io=int8_io, **graph, **data)
