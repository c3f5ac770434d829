"""Running the command-line tools: a known error is one line and a non-zero exit.

`run(main)` replaces `absl.app.run(main)`. Errors that name a problem with the user's input
(`KerasAirnError` and its kinds, a missing file, a locked run folder, a decoding error raised
inside a `tf.data` map) print `error: <message>` without a traceback; `--debug` shows it. The
process then ends at once: a `tf.data` iterator torn down after a failed map can hang in its
destructor (seen with TF 2.21), so no run is left hanging after its error.
"""

from __future__ import annotations

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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(main, positional: str | None = None) -> None:
    """`absl.app.run(main)` with the error handling above.

    Args:
        main: called with argv (the program name, then the arguments that are not flags).
        positional: what arguments that are not flags mean to this tool (e.g. "audio files");
            None: the tool takes none, and any is refused by name instead of silently ignored.
    """

    def guarded(argv):
        if positional is None and len(argv) > 1:
            raise app.UsageError(f"unexpected argument(s) {' '.join(argv[1:])!r}: this tool takes only flags "
                                 f"(--name=value; a list flag takes commas: --audio=a.wav,b.wav).")
        try:
            main(argv)
        except (app.UsageError, SystemExit):
            raise
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

    app.run(guarded)
