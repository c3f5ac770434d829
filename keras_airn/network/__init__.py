"""The networks: AudioRepInceptionNeXt and its layers, the baselines, one registry of every
network by name (`registry`: presets and baselines), re-parameterisation (asked of the network:
`deploy.reparameterize`), parameter and MAC counts, loading saved models and the official PyTorch
checkpoints.

May import: `keras_airn.errors`, `keras_airn.files`; nothing else of keras_airn.
"""
