"""The networks: AudioRepInceptionNeXt and its layers, named presets, the baselines,
re-parameterisation, parameter and MAC counts, loading saved models and the official PyTorch
checkpoints.

May import: `keras_airn.errors`, `keras_airn.files`; nothing else of keras_airn.
"""
