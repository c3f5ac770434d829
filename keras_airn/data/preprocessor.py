"""`AudioPreprocessor`: the step from a waveform to what the network takes, as a Keras layer.

`AudioClassifier.predict` maps it over a `tf.data` pipeline of waveforms (keras-hub's
preprocessor pattern); evaluation uses the same crops (`features.view_features`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_airn.errors import check_count
from keras_airn.data.features import FrontEnd, view_features


@keras.saving.register_keras_serializable(package="keras_airn")
class AudioPreprocessor(keras.layers.Layer):
    """One waveform -> the log-mel of its evenly spaced crops, as the release computes them.

    A recording at least a clip long gives `views` crops spread over it; a shorter one is
    transformed whole and its last frame repeated up to the clip's frames (`clip_features`).
    TensorFlow backend only.

    Args:
        front_end: the `FrontEnd` (or its config); VGG-Sound's by default.
        views: crops per waveform (default: the front-end's evaluation views).

    Example:
    >>> front_end = FrontEnd(sample_rate=16000, clip_seconds=1.0, n_mels=64, eval_views=3)
    >>> AudioPreprocessor(front_end)(tf.zeros(24000)).shape
    TensorShape([3, 100, 64, 1])
    """

    def __init__(self, front_end: FrontEnd | dict | None = None, views: int | None = None, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if isinstance(front_end, dict):
            front_end = FrontEnd.from_config(front_end)
        self.front_end = front_end or FrontEnd()
        check_count("views", views)
        self.views = views or self.front_end.eval_views

    def call(self, waveform):
        return view_features(tf.cast(waveform, tf.float32), self.front_end, self.views)[..., None]

    def compute_output_shape(self, input_shape):
        return (self.views, self.front_end.num_frames, self.front_end.n_mels, 1)

    def get_config(self):
        return {**super().get_config(), "front_end": self.front_end.to_config(), "views": self.views}
