"""Running the command-line tools: a known error is one line and a non-zero exit.

`run(main)` replaces `absl.app.run(main)`. Errors that name a problem with the user's input
(`KerasAirnError` and its kinds, a missing file, a locked run folder, a decoding error raised
inside a `tf.data` map) print `error: <message>` without a traceback; `--debug` shows it. The
process then ends at once: a `tf.data` iterator torn down after a failed map can hang in its
destructor (seen with TF 2.21), so no run is left hanging after its error.

Usage errors are one line too, for every tool: a flag absl cannot parse or whose validator
refuses it, a float flag given NaN (absl's bounds let NaN through: every comparison with it is
false), and `app.UsageError` from a tool, all print `error: <message>` (exit 1) instead of the
tool's help. Output into a closed pipe (`| head -1`) ends the tool quietly.
"""

from __future__ import annotations

import math
import os
import re
import sys
import traceback

from absl import app, flags

from keras_airn.errors import KerasAirnError

DEBUG = flags.DEFINE_bool("debug", False, "Show the full traceback of errors about the input, too.")
KNOWN = (KerasAirnError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError)
# What a py_function / numpy_function error inside tf.data carries of our exception.
_WRAPPED = re.compile(r"keras_airn\.[\w.]+Error: (.+?)(?:\n|$)")


def known_message(error: BaseException) -> str | None:
    """The one-line message of an input error (also one raised inside a tf.data map), else None."""
    if isinstance(error, KNOWN):
        return str(error).strip() or type(error).__name__
    found = _WRAPPED.search(str(error))
    return found.group(1).strip() if found else None


def _end(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away: nothing more to say
            pass
    os._exit(code)


def _usage_error(message: str) -> None:
    print(f"error: {str(message).strip().splitlines()[0] if str(message).strip() else 'usage error'}",
          file=sys.stderr)
    _end(1)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with one-line errors; NaN refused in every float flag (the shared
    range check: a bound compared with NaN is never crossed)."""
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        _usage_error(error)
    for name, flag in flags.FLAGS._flags().items():
        values = flag.value if isinstance(flag.value, list) else [flag.value]
        if flag.present and any(isinstance(v, float) and math.isnan(v) for v in values):
            _usage_error(f"--{name} must be a number, got NaN.")
    return remaining


class _PathListParser(flags.ListParser):
    """A comma-separated list of paths, where a value that names an existing file (a comma in
    its name) is that one path."""

    def parse(self, argument):
        if isinstance(argument, str) and os.path.exists(argument):
            return [argument]
        return super().parse(argument)


def DEFINE_paths(name: str, default, help_text: str):  # noqa: N802 - named as absl's DEFINE_*
    """A list flag of file paths: `--audio=a.wav,b.wav`, or one file whose name holds a comma."""
    return flags.DEFINE(_PathListParser(), name, default, help_text, serializer=flags.CsvListSerializer(","))


def run(main, positional: str | None = None) -> None:
    """`absl.app.run(main)` with the error handling above.

    Args:
        main: called with argv (the program name, then the arguments that are not flags).
        positional: what arguments that are not flags mean to this tool (e.g. "audio files");
            None: the tool takes none, and any is refused by name instead of silently ignored.
    """

    def guarded(argv):
        if positional is None and len(argv) > 1:
            _usage_error(f"unexpected argument(s) {' '.join(argv[1:])!r}: this tool takes only flags "
                         f"(--name=value; a list flag takes commas: --audio=a.wav,b.wav).")
        try:
            main(argv)
        except app.UsageError as error:
            _usage_error(error)
        except SystemExit:
            raise
        except BrokenPipeError:  # `tool | head -1`: the reader has what it wanted
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except OSError:
                pass
            _end(0)
        except KeyboardInterrupt:
            if DEBUG.value:
                traceback.print_exc()
            print("interrupted (a training run continues from its last checkpoint with --resume)",
                  file=sys.stderr)
            _end(130)
        except Exception as error:  # noqa: BLE001 - sorted into known and unexpected below
            message = known_message(error)
            if message is None or DEBUG.value:
                traceback.print_exc()
            if message is not None:
                print(f"error: {message}", file=sys.stderr)
            _end(1)
        _end(0)

    app.run(guarded, flags_parser=parse_flags)
