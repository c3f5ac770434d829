"""The base of the errors that name a problem with what the user gave (a file, a flag, data).

Command-line tools print such an error as one line and exit non-zero (`keras_airn.cli`); any
other exception is a bug and keeps its traceback.
"""


class KerasAirnError(ValueError):
    """A problem with the user's input, named in the message (file, line, setting)."""


class ClassifyError(KerasAirnError):
    """The audio or the model cannot be used as asked."""
