"""TFLite model metadata for the waveform classifier, readable by MediaPipe's AudioClassifier.

Written with the flatbuffer schema code that the `mediapipe` package ships (its own metadata
writer needs native modules the wheel lacks). Following the TFLite metadata format: a
`ModelMetadata` flatbuffer (identifier "M001") is stored in a model buffer named by a
"TFLITE_METADATA" metadata entry, and associated files (here the label file) are appended to
the model as a zip archive.
"""

from __future__ import annotations

import io
import zipfile
from typing import Sequence

import numpy as np

from keras_airn.inference.artifacts import read_attached_file

LABEL_FILE = "labels.txt"
METADATA_NAME = "TFLITE_METADATA"
MIN_PARSER_VERSION = "1.0.0"


def attach_audio_classifier_metadata(
    model: bytes,
    *,
    sample_rate: int,
    labels: Sequence[str],
    name: str,
    description: str,
    version: str = "1",
    channels: int = 1,
) -> bytes:
    """Returns `model` with audio-classifier metadata and its label file attached.

    Args:
        model: a .tflite flatbuffer with one float PCM input and one score output.
        sample_rate: the input's sample rate (Hz).
        labels: class names, index = output position.
        name, description, version: shown by metadata readers.
        channels: input channels.

    Returns:
        The new model bytes (flatbuffer followed by a zip holding `labels.txt`).
    """
    metadata = _metadata_flatbuffer(sample_rate, channels, name, description, version)
    return attach_files(_with_metadata_buffer(model, metadata),
                        {LABEL_FILE: "".join(f"{label}\n" for label in labels).encode()})


def attach_files(model: bytes, named: dict[str, bytes]) -> bytes:
    """`model` with files appended as a zip archive, as TFLite metadata stores associated files
    (runtimes ignore the bytes after the flatbuffer).

    Example:
    >>> data = attach_files(b"TFL3 flatbuffer", {"notes.txt": b"hello"})
    >>> read_attached_file(data, "notes.txt")
    b'hello'
    """
    stream = io.BytesIO(model)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a") as archive:
        for name, data in named.items():
            archive.writestr(name, data)
    return stream.getvalue()


def _metadata_flatbuffer(sample_rate: int, channels: int, name: str, description: str, version: str) -> bytes:
    """The `ModelMetadata` flatbuffer: an audio input, logits out with the label file."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta

    audio = meta.AudioPropertiesT()
    audio.sampleRate = int(sample_rate)
    audio.channels = int(channels)
    input_content = meta.ContentT()
    input_content.contentPropertiesType = meta.ContentProperties.AudioProperties
    input_content.contentProperties = audio
    input_meta = meta.TensorMetadataT()
    input_meta.name = "waveform"
    input_meta.description = f"Mono float PCM in [-1, 1] at {sample_rate} Hz."
    input_meta.content = input_content

    label_file = meta.AssociatedFileT()
    label_file.name = LABEL_FILE
    label_file.description = "Class names, one per line, in output order."
    label_file.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
    output_content = meta.ContentT()
    output_content.contentPropertiesType = meta.ContentProperties.FeatureProperties
    output_content.contentProperties = meta.FeaturePropertiesT()
    output_meta = meta.TensorMetadataT()
    output_meta.name = "logits"
    output_meta.description = "Class logits (higher is more likely)."
    output_meta.content = output_content
    output_meta.associatedFiles = [label_file]

    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_meta]
    subgraph.outputTensorMetadata = [output_meta]
    metadata = meta.ModelMetadataT()
    metadata.name = name
    metadata.description = description
    metadata.version = version
    metadata.subgraphMetadata = [subgraph]
    metadata.minParserVersion = MIN_PARSER_VERSION
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=b"M001")
    return bytes(builder.Output())


def _with_metadata_buffer(model: bytes, metadata_bytes: bytes) -> bytes:
    """The model with `metadata_bytes` in a new buffer named by a TFLITE_METADATA entry."""
    import flatbuffers
    from mediapipe.tasks.metadata import schema_py_generated as schema

    tflite = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_bytes, np.uint8)
    tflite.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(tflite.buffers) - 1
    tflite.metadata = [m for m in (tflite.metadata or []) if m.name != METADATA_NAME] + [entry]
    builder = flatbuffers.Builder(len(model) + len(metadata_bytes) + 1024)
    builder.Finish(tflite.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_audio_classifier_metadata(model: bytes) -> dict:
    """Reads back what `attach_audio_classifier_metadata` wrote: name, sample rate, labels."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta
    from mediapipe.tasks.metadata import schema_py_generated as schema

    tflite = schema.Model.GetRootAsModel(model, 0)
    for index in range(tflite.MetadataLength()):
        entry = tflite.Metadata(index)
        if entry.Name().decode() == METADATA_NAME:
            data = tflite.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            metadata = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAsModelMetadata(data, 0))
            audio = metadata.subgraphMetadata[0].inputTensorMetadata[0].content.contentProperties
            labels = read_attached_file(model, LABEL_FILE).decode().splitlines()
            return {"name": metadata.name.decode() if isinstance(metadata.name, bytes) else metadata.name,
                    "sample_rate": audio.sampleRate, "channels": audio.channels, "labels": labels}
    raise ValueError("The model has no TFLITE_METADATA entry.")
