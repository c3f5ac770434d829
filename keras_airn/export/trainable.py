"""A `.tflite` that learns on the device: frozen network, float classifier head in variables.

The network up to its classifier (the input of `head_projection`: the embedding) is frozen into
constants; the head's weights live in resource variables with `max_classes` slots, the shipped
classes first and free slots after them. Only builtin LiteRT ops (no Flex): the head's gradient
is written out (softmax cross-entropy through one linear layer) and the optimizer is Keras's Adam
update in plain ops. Signatures:

- `infer(waveform | log_mel)` -> `logits` (1, max_classes), a slot not in use at `MASKED_LOGIT`,
  and `embedding` (1, D): what `train` learns from.
- `train(embedding (N, D), label (N, max_classes) one-hot)` -> `loss`: one Adam step on the batch;
  a slot that a label names is in use from then on (a new class).
- `get_weights(restore_shipped ())` -> `w`, `b`, `mask`: the head; `restore_shipped` = 1 first
  puts the shipped head back.
- `set_weights(w, b, mask)` -> `mask`: loads a saved head; the optimizer starts afresh.

With `adapt_stages=N` the pointwise layers of the last N stages learn too
(`keras_airn.export.tail`): `embedding` is then the feature map entering them, (1, rows, columns,
channels), and `get_weights` / `set_weights` carry those layers as one more vector, `tail`.

The file carries its labels (one per slot, "" for a free one), front-end and settings as a JSON
file appended as TFLite metadata appends files (`TRAINABLE_FILE`), read by
`keras_airn.inference.personalise`, and a replay set (`keras_airn.export.replay`). int8 quantises the network alone: a waveform model's front-end, the
global pooling, the head and the training ops stay float.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from keras_airn import files
from keras_airn.inference.artifacts import MASKED_LOGIT, TRAINABLE_FILE, read_trainable_settings as read_settings  # noqa: F401
from keras_airn.export.replay import DEFAULT_REPLAY_PER_CLASS, replay_examples, replay_files
from keras_airn.export.common import (
    CALIBRATION_CLIPS,
    EVAL_CLIPS,
    ConversionError,
    artifact_stem,
    new_report,
    note_calibration,
    write_report,
    write_sidecars,
)

PRECISIONS = ("fp32", "dynamic", "int8")
SIGNATURES = ("infer", "train", "get_weights", "set_weights")
DEFAULT_MAX_CLASSES_EXTRA = 10  # free slots after the shipped classes, unless max_classes is given
# Keras's Adam defaults, the update `train` runs.
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7
DEFAULT_LEARNING_RATE = 1e-3  # the head alone
ADAPT_LEARNING_RATE = 3e-4  # with adapt_stages: head and pointwise layers
_BACKBONE = "trainable_backbone"  # the Keras model's name: its ops' tensor names start with it
_HEAD_LAYERS = "/head_"


def embedding_model(model):
    """The network up to its classifier: a Keras model from log-mel to `head_projection`'s input.

    Raises:
        ConversionError: a model with no layer named `head_projection`.
    """
    import keras

    try:
        projection = model.get_layer("head_projection")
    except ValueError as error:
        raise ConversionError(f"{model.name}: no classifier layer named head_projection to personalise.") from error
    return keras.Model(model.inputs, projection.input, name=_BACKBONE), projection


def _module(model, front_end, waveform: bool, max_classes: int, learning_rate: float, adapt_stages: int = 0):
    """The `tf.Module` whose signatures the `.tflite` file holds (this module's docstring)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from keras_airn.export.waveform import waveform_features, waveform_spec

    backbone, shipped, blocks, shapes = _frozen_and_learned(model, max_classes, adapt_stages)
    log_mel = tf.TensorSpec([1, front_end.num_frames, front_end.n_mels, 1], tf.float32, name="log_mel")
    frozen = convert_variables_to_constants_v2(
        tf.function(lambda x: backbone(x, training=False)).get_concrete_function(log_mel))
    embedding_shape = frozen.outputs[0].shape[1:]
    spec = waveform_spec(front_end) if waveform else log_mel
    head_specs = [tf.TensorSpec(shipped[k].shape, tf.float32, name=k) for k in shipped]

    class TrainableHead(tf.Module):
        def __init__(self):
            super().__init__(name="trainable_head")
            self.shipped = {k: tf.constant(v) for k, v in shipped.items()}
            self.head = {k: tf.Variable(v, name=k) for k, v in shipped.items()}
            self.moments = {f"{m}_{k}": tf.Variable(tf.zeros_like(shipped[k]), name=f"{m}_{k}")
                            for m in ("m", "v") for k in shipped if k != "mask"}
            self.step = tf.Variable(0.0, name="step")

        def assign(self, values):
            for name, value in values.items():
                self.head[name].assign(value)
            for moment in self.moments.values():
                moment.assign(tf.zeros_like(moment))
            self.step.assign(0.0)

        def pooled(self, embedding):
            """(the pooled vector the head reads, the tail's forward pass or None)."""
            return _pooled(self.head, blocks, shapes, embedding)

        @tf.function(input_signature=[spec])
        def infer(self, inputs):
            features = waveform_features(inputs, front_end) if waveform else inputs
            embedding = frozen(features)[0]
            pooled, _ = self.pooled(embedding)
            return {"logits": _logits(self.head, pooled), "embedding": tf.identity(embedding)}

        @tf.function(input_signature=[tf.TensorSpec([None, *embedding_shape], tf.float32, name="embedding"),
                                      tf.TensorSpec([None, max_classes], tf.float32, name="label")])
        def train(self, embedding, label):
            return {"loss": _train_step(self, embedding, label, learning_rate, blocks)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="restore_shipped")])
        def get_weights(self, restore_shipped):
            # A signature with no input cannot be calibrated for int8; this one also resets.
            if restore_shipped > 0.5:
                self.assign(self.shipped)
            return {k: tf.identity(v) for k, v in self.head.items()}

        @tf.function(input_signature=head_specs)
        def set_weights(self, *values):
            self.assign(dict(zip(shipped, values)))
            return {"mask": tf.identity(self.head["mask"])}

    return TrainableHead()


def _frozen_and_learned(model, max_classes: int, adapt_stages: int):
    """(the Keras model that stays frozen, the shipped weights that learn {"w", "b", "mask"[, "tail"]},
    the tail's blocks, the shape of each of its arrays) of a model and its `adapt_stages`."""
    import keras

    from keras_airn.export.tail import tail_of

    backbone, projection = embedding_model(model)
    shipped = _shipped_head(projection, max_classes)
    if not adapt_stages:
        return backbone, shipped, [], {}
    first, blocks, weights = tail_of(model, adapt_stages)
    shipped["tail"] = np.concatenate([v.ravel() for v in weights.values()])
    shapes = {name: value.shape for name, value in weights.items()}
    return keras.Model(model.inputs, first.input, name=_BACKBONE), shipped, blocks, shapes


def _pooled(head: dict, blocks, shapes: dict, embedding):
    """(the pooled vector the head reads, the tail's (weights, saved activations, output) or None):
    `embedding` itself, or the tail run on it (its arrays views of the flat `tail` variable)."""
    import tensorflow as tf

    from keras_airn.export import tail

    if not blocks:
        return embedding, None
    weights, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        weights[name] = tf.reshape(head["tail"][offset : offset + size], shape)
        offset += size
    out, saved = tail.forward(blocks, weights, embedding)
    return tf.reduce_mean(out, axis=[1, 2]), (weights, saved, out)


def _shipped_head(projection, max_classes: int) -> dict[str, np.ndarray]:
    """The head as shipped: {"w" (D, max_classes), "b", "mask"}, `projection`'s kernel and bias in
    the first slots (mask 1), zeros in the free ones."""
    kernel, bias = (np.asarray(v, np.float32) for v in projection.weights)
    dim, classes = kernel.shape
    shipped = {"w": np.zeros((dim, max_classes), np.float32), "b": np.zeros(max_classes, np.float32),
               "mask": np.zeros(max_classes, np.float32)}
    shipped["w"][:, :classes], shipped["b"][:classes], shipped["mask"][:classes] = kernel, bias, 1.0
    return shipped


def _logits(head: dict, embedding):
    """The head's logits, a slot not in use at `MASKED_LOGIT`."""
    import tensorflow as tf

    with tf.name_scope("trainable_head"):
        return tf.matmul(embedding, head["w"]) + head["b"] + (1.0 - head["mask"]) * MASKED_LOGIT


def _train_step(module, embedding, label, learning_rate: float, blocks=()):
    """One Adam step of `module`'s head, tail (`blocks`), moments and step count on softmax
    cross-entropy; the slots `label` names come into use. Returns the batch's loss."""
    import tensorflow as tf

    from keras_airn.export import tail

    head, moments = module.head, module.moments
    with tf.name_scope("trainable_head"):
        head["mask"].assign(tf.maximum(head["mask"], tf.reduce_max(label, axis=0)))
        pooled, forward = module.pooled(embedding)
        logits = _logits(head, pooled)
        count = tf.cast(tf.shape(embedding)[0], tf.float32)
        loss = -tf.reduce_sum(label * tf.nn.log_softmax(logits)) / count
        # d loss / d logits of softmax cross-entropy, then through the linear layer.
        delta = (tf.nn.softmax(logits) - label) / count
        grads = {"w": tf.matmul(pooled, delta, transpose_a=True), "b": tf.reduce_sum(delta, axis=0)}
        if forward is not None:
            weights, saved, out = forward
            # Through the mean over positions, then back through the tail.
            to_pooled = tf.matmul(delta, head["w"], transpose_b=True) / float(out.shape[1] * out.shape[2])
            to_out = tf.zeros_like(out) + to_pooled[:, None, None, :]
            tail_grads = tail.backward(blocks, weights, saved, to_out)
            grads["tail"] = tf.concat([tf.reshape(tail_grads[name], [-1]) for name in weights], axis=0)
        step = module.step + 1.0
        module.step.assign(step)
        # keras.optimizers.Adam's update: epsilon added to sqrt(v), bias correction in the rate.
        rate = learning_rate * tf.sqrt(1.0 - tf.pow(ADAM_BETA_2, step)) / (1.0 - tf.pow(ADAM_BETA_1, step))
        for name, grad in grads.items():
            m, v = moments[f"m_{name}"], moments[f"v_{name}"]
            m.assign_add((grad - m) * (1.0 - ADAM_BETA_1))
            v.assign_add((grad * grad - v) * (1.0 - ADAM_BETA_2))
            head[name].assign_sub(m * rate / (tf.sqrt(v) + ADAM_EPSILON))
    return loss


def head_slots(model, max_classes: int | None) -> int:
    """The head's slots: `max_classes`, or the model's classes + `DEFAULT_MAX_CLASSES_EXTRA`.

    Raises:
        ConversionError: fewer slots than the model has classes, or not a whole number.
    """
    classes = int(model.output_shape[-1])
    slots = classes + DEFAULT_MAX_CLASSES_EXTRA if max_classes is None else max_classes
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < classes:
        raise ConversionError(f"max_classes must be a whole number of at least the model's {classes} classes, "
                              f"got {max_classes!r}.")
    return slots


def convert_trainable(model, front_end, precision: str, *, waveform: bool = False, max_classes: int | None = None,
                      learning_rate: float = DEFAULT_LEARNING_RATE, representative=None, adapt_stages: int = 0) -> bytes:
    """The trainable `.tflite` flatbuffer of a model (this module's docstring), builtin ops only.

    Args:
        model: a Keras model from log-mel to logits whose last layer is `head_projection`
            (re-parameterise an AudioRepInceptionNeXt first: `model_for_export`).
        front_end: its `FrontEnd`.
        precision: "fp32", "dynamic" (int8 weights) or "int8" (int8 network, float head).
        waveform: (1, samples) PCM input with the log-mel inside the model.
        max_classes: head slots (default: the model's classes + `DEFAULT_MAX_CLASSES_EXTRA`).
        learning_rate: Adam's rate in `train`.
        representative: for int8, model inputs (one example each) that calibrate the network.
        adapt_stages: the last stages whose pointwise layers learn beside the head (0: the head
            alone; `keras_airn.export.tail`).

    Returns:
        The model bytes (metadata not yet attached: `export_trainable` does).
    """
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ConversionError(f"Unknown precision {precision!r} for a trainable model; choose from {PRECISIONS}.")
    module = _module(model, front_end, waveform, head_slots(model, max_classes), learning_rate, adapt_stages)
    with tempfile.TemporaryDirectory() as saved:
        signatures = {name: getattr(module, name).get_concrete_function() for name in SIGNATURES}
        tf.saved_model.save(module, saved, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(SIGNATURES))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # never Flex ops
        converter.experimental_enable_resource_variables = True
        if precision == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision != "int8":
            return converter.convert()
        if not representative:
            raise ConversionError("int8 needs calibration clips.")
        input_name = form_input(waveform)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (("infer", {input_name: x}) for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        # Calibrate, then quantise with every op outside the network left float: the two steps
        # `tf.lite.experimental.QuantizationDebugger` takes, which cannot run a model with variables.
        converter._experimental_calibrate_only = True  # noqa: SLF001
        calibrated = converter.convert()
    from tensorflow.lite.python import convert as lite_convert

    return lite_convert.mlir_quantize(calibrated, denylisted_nodes=_float_nodes(calibrated))


def _float_nodes(model_bytes: bytes) -> set[str]:
    """Output tensor names of every op outside the network's own layers (front-end, pooling and
    head, training and weight ops), in every signature: what int8 leaves float."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_bytes, 0)
    names = set()
    for index in range(model.SubgraphsLength()):
        graph = model.Subgraphs(index)
        for op in (graph.Operators(i) for i in range(graph.OperatorsLength())):
            for j in range(op.OutputsLength()):
                name = graph.Tensors(op.Outputs(j)).Name().decode()
                if not name.startswith(f"{_BACKBONE}") or _HEAD_LAYERS in name:
                    names.add(name)
    return names


def export_trainable(model, out_dir: str, precisions=("int8",), *, waveform: bool = False, front_end=None,
                     label_names=None, max_classes: int | None = None, learning_rate: float | None = None,
                     examples=None, calibration_examples=None, random_calibration: bool = False,
                     num_calibration: int = CALIBRATION_CLIPS, num_eval: int = EVAL_CLIPS, source: str | None = None,
                     time_as_rows: bool = True, adapt_stages: int = 0,
                     replay_per_class: int = DEFAULT_REPLAY_PER_CLASS) -> dict:
    """Writes trainable `.tflite` files (this module's docstring) with labels, front-end and a report.

    The report is `report_trainable.json` (the schema of `keras_airn.export.common`; each entry
    adds "max_classes", "signatures" and "replay_examples"); `infer`'s logits of the shipped classes are compared
    with the Keras model's (fp32 within 1e-4, else refused).

    Args:
        model: an `AudioRepInceptionNeXt` (re-parameterised first), a model file, or a baseline.
        out_dir, precisions: output folder; any of "fp32", "dynamic" and "int8".
        waveform: (1, samples) PCM input with the log-mel inside the model.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        label_names: the shipped classes' names (default class_<i>).
        max_classes: head slots, shipped classes included (default: those + 10).
        learning_rate: Adam's rate of the `train` signature (default `DEFAULT_LEARNING_RATE`, with
            `adapt_stages` `ADAPT_LEARNING_RATE`).
        examples, calibration_examples, random_calibration, num_calibration, num_eval: as
            `keras_airn.export.tflite.export`.
        source: the model's file or folder, recorded in the report.
        time_as_rows: time-axis convolutions on the transposed layout, as `keras_airn.export.tflite.export`.
        adapt_stages: the last stages whose pointwise layers learn beside the head (0: the head
            alone); `get_weights` and `set_weights` then carry them as one vector, `tail`.
        replay_per_class: labelled calibration clips of each class whose embeddings the file
            carries as its replay set (0: none; none either when the clips have no labels).

    Returns:
        The report.
    """
    from keras_airn.export.common import enforce_bound, export_inputs, resolve_for_export
    from keras_airn.export.tflite import FP32_BOUND, run_checks

    source = source or (model if isinstance(model, str) else model.name)
    precisions = _checked_precisions(precisions)
    model, front_end = resolve_for_export(model, out_dir, precisions, PRECISIONS, front_end, None, False, time_as_rows)
    classes, max_classes = int(model.output_shape[-1]), head_slots(model, max_classes)
    labels, learning_rate = _checked_settings(model, label_names, classes, learning_rate, adapt_stages,
                                              replay_per_class)
    inputs = export_inputs(model, front_end, examples, calibration_examples, waveform=waveform,
                           num_calibration=num_calibration, num_eval=num_eval, int8="int8" in precisions,
                           random_calibration=random_calibration)
    form = "waveform" if waveform else "spectrogram"
    report = new_report("tflite_trainable", source, model, front_end, form, len(inputs.evaluation),
                        time_as_rows=time_as_rows)
    os.makedirs(out_dir, exist_ok=True)
    write_sidecars(out_dir, front_end, labels, classes)
    replay = replay_examples(inputs.calibration, inputs.calibration_labels, replay_per_class)
    for precision in precisions:
        data = _trainable_file(model, front_end, precision, form, labels, max_classes, learning_rate,
                               [x[None] for x in inputs.calibration], adapt_stages, replay)
        name = f"{artifact_stem(model)}_{form}_{precision}_trainable.tflite"
        entry = {"file": name, "bytes": len(data), "max_classes": max_classes, "signatures": list(SIGNATURES),
                 "replay_examples": len(replay[1]),
                 **run_checks(name, data, inputs.evaluation, inputs.reference, inputs.labels, columns=classes)}
        if precision == "int8":
            note_calibration(name, entry, inputs.calibration_clips)
        if precision == "fp32":
            enforce_bound(name, entry, FP32_BOUND)
        files.write_bytes(os.path.join(out_dir, name), data)
        report["artifacts"][precision] = entry
    write_report(out_dir, report)
    return report


def _checked_precisions(precisions) -> list[str]:
    """`checked_precisions` of a trainable model, fp16 refused with its reason."""
    from keras_airn.export.common import checked_precisions

    if "fp16" in ([precisions] if isinstance(precisions, str) else list(precisions or [])):
        raise ConversionError(f"fp16 is not a precision of a trainable model (its variables and training ops are "
                              f"float32); choose from {', '.join(PRECISIONS)}.")
    return checked_precisions(precisions, PRECISIONS)


def _checked_settings(model, label_names, classes: int, learning_rate, adapt_stages: int,
                      replay_per_class: int) -> tuple[list, float]:
    """(the shipped classes' names (default class_<i>), Adam's rate (default by `adapt_stages`)),
    checked before any conversion work.

    Raises:
        ConversionError: a learning rate that is not a positive number, labels that are not one
            per class, `adapt_stages` the model does not have (`keras_airn.export.tail.tail_of`),
            or a `replay_per_class` that is not a count.
    """
    from keras_airn.export.replay import checked_count
    from keras_airn.export.tail import tail_of

    checked_count(replay_per_class)

    if adapt_stages:
        tail_of(model, adapt_stages)
    if learning_rate is None:
        learning_rate = ADAPT_LEARNING_RATE if adapt_stages else DEFAULT_LEARNING_RATE
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ConversionError(f"learning_rate must be a positive number, got {learning_rate}.")
    labels = list(label_names) if label_names else [f"class_{i}" for i in range(classes)]
    if len(labels) != classes:
        raise ConversionError(f"{len(labels)} labels for a model with {classes} classes.")
    return labels, learning_rate


def _trainable_file(model, front_end, precision: str, form: str, labels: list[str], max_classes: int,
                    learning_rate: float, representative, adapt_stages: int, replay) -> bytes:
    """`convert_trainable` with its settings (`TRAINABLE_FILE`: labels of every slot, front-end,
    signatures) and replay set (`keras_airn.export.replay.replay_files` of `replay`) attached."""
    from keras_airn.export.metadata import attach_files

    data = convert_trainable(model, front_end, precision, waveform=form == "waveform", max_classes=max_classes,
                             learning_rate=learning_rate, representative=representative, adapt_stages=adapt_stages)
    settings = {"labels": labels + [""] * (max_classes - len(labels)), "max_classes": max_classes,
                "learning_rate": learning_rate, "input": form, "precision": precision,
                "front_end": front_end.to_config(), "signatures": list(SIGNATURES), "adapt_stages": adapt_stages}
    settings["replay"], attached = replay_files(data, form_input(form == "waveform"), replay, labels)
    return attach_files(data, {TRAINABLE_FILE: json.dumps(settings, indent=1).encode(), **attached})


def form_input(waveform: bool) -> str:
    """The name of `infer`'s input: "waveform" for a waveform-input model, else "log_mel"."""
    return "waveform" if waveform else "log_mel"
