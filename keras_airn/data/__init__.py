"""Audio and data: reading recordings as the release does, the log-mel front-end, label files
and the dataset readers that yield `Example`s for the one input pipeline.

May import: `keras_airn.errors`, `keras_airn.files`; nothing else of keras_airn.
"""
