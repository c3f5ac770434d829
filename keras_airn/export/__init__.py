"""Export: model files written from a Keras model (TFLite fp32 / fp16 / dynamic / int8,
waveform input, trainable TFLite, ONNX, OpenVINO IR) and each checked against Keras by running
it.

May import: `keras_airn.data`, `keras_airn.network`, `keras_airn.inference` (to run what it
writes) and the plumbing (`errors`, `files`, `machine`); never `training` or `task`.
"""
