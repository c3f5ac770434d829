"""Inference: model files and their runtimes (LiteRT, onnxruntime, OpenVINO), windows over a
recording, live streams, and on-device learning driven through a trainable `.tflite`'s
signatures as an app drives it.

May import: `keras_airn.data`, `keras_airn.network` and the plumbing (`errors`, `files`);
never `export`, `training` or `task`.
"""
