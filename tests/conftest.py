"""keras_airn is imported before any test module imports TensorFlow, as a user's program would:
its process settings (`keras_airn.tf_env`) hold for the whole suite."""

import keras_airn  # noqa: F401
