"""Training: the recipe (`TrainConfig`), augmentation, the `tf.data` input pipeline, the loop
with its checkpoints and resumes, and data-parallel training over processes.

May import: `keras_airn.data`, `keras_airn.network`, `keras_airn.inference` and the plumbing
(`errors`, `files`); never `export` or `task`.
"""
