"""The base of the errors that name a problem with what the user gave (a file, a flag, data).

Command-line tools print such an error as one line and exit non-zero (`keras_airn.cli`); any
other exception is a bug and keeps its traceback.
"""


class KerasAirnError(ValueError):
    """A problem with the user's input, named in the message (file, line, setting)."""


class PresetError(KerasAirnError):
    """A preset name or path that cannot be loaded, or labels that do not fit the model."""


class ClassifyError(KerasAirnError):
    """The audio or the model cannot be used as asked."""


def check_count(name: str, value, minimum: int = 1) -> None:
    """Refuses a count argument (views, batch_size, ...) that is neither None nor a whole number >= `minimum`.

    Raises:
        ValueError: naming the argument and the value.
    """
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}.")


def check_choice(name: str, value, choices, error: type[Exception] = ValueError) -> None:
    """Refuses a setting that is not one of `choices`.

    Args:
        name: the setting's name, as the message shows it.
        value: the value given.
        choices: the values allowed, in the order the message lists them.
        error: the exception raised.

    Raises:
        `error`: naming the setting, the choices and the value.
    """
    if value not in choices:
        raise error(f"{name} must be one of {list(choices)}, got {value!r}.")


def check_range(name: str, value, low: float, high: float, *, include_high: bool = False) -> None:
    """Refuses a number outside [low, high) (or [low, high] with `include_high`).

    Raises:
        ValueError: naming the setting, the range and the value.
    """
    if not (low <= value <= high if include_high else low <= value < high):
        raise ValueError(f"{name} must be in [{low}, {high}{']' if include_high else ')'}, got {value}.")
