"""Audio found unusable in the middle of a run: listed and skipped instead of ending the run.

The start-of-run check (`datasets.check_examples`) reads headers only, so NaN or infinite
samples, or a file changed since, are met when a crop is decoded. Under `bad_audio="skip"` the
pipelines hand each such error to a `BadAudioLog`, which warns once per file and appends it to
the run's `bad_audio_<split>.txt`; under "fail" the error ends the run, naming the file.
"""

from __future__ import annotations

import logging
import os
import threading

def bad_audio_report(out_dir: str, split_name: str) -> str:
    """The run's list of unusable files of one split: `out_dir/bad_audio_<split_name>.txt`."""
    return os.path.join(out_dir, f"bad_audio_{split_name}.txt")


class BadAudioLog:
    """Collects the audio errors a pipeline skipped.

    Args:
        report_path: file the errors are appended to (one line each), or None (not written).

    Example:
    >>> from keras_airn.data.audio import AudioError
    >>> log = BadAudioLog(None)
    >>> log.skip(AudioError("a.wav: audio contains NaN or infinite samples."))
    >>> log.paths
    ['a.wav']
    """

    def __init__(self, report_path: str | None):
        self.report_path = report_path
        self.messages: dict[str, str] = {}
        self._listed = set()  # paths the report already names (the start-of-run check, an earlier pass)
        if report_path and os.path.isfile(report_path):
            with open(report_path, encoding="utf-8") as handle:
                self._listed = {line.split(": ", 1)[0] for line in handle}
        self._lock = threading.Lock()  # tf.data calls the pipelines' host code from several threads

    @property
    def paths(self) -> list[str]:
        """The files skipped so far."""
        return list(self.messages)

    def skip(self, error: Exception) -> None:
        """Records `error` (whose message starts with the file's path) once per file."""
        message = str(error)
        path = message.split(": ", 1)[0]
        with self._lock:
            if path in self.messages:
                return
            self.messages[path] = message
            if self.report_path and path not in self._listed:
                self._listed.add(path)
                with open(self.report_path, "a", encoding="utf-8") as handle:
                    handle.write(message + "\n")
        logging.warning("Skipping unusable audio met during the run: %s%s", message,
                        f" (listed in {self.report_path})" if self.report_path else "")


def checked_split(split, name: str, sample_rate: int, out_dir: str, bad_audio: str, verbose="auto",
                  resample: bool = True):
    """`split` without the files whose headers `check_examples` refuses (listed in the run's
    bad-audio report), as `train.finetune` checks its data.

    Args:
        split: a `Split`.
        name: the split's name ("train", "test"): its report is `bad_audio_<name>.txt`.
        sample_rate: the front-end's rate.
        out_dir: the run folder (holds `bad_audio_<name>.txt`).
        bad_audio: "skip" or "fail".
        verbose: as Keras's (a progress bar unless 0 or 2).
        resample: False refuses files at another rate (strict mode) instead of resampling them.

    Returns:
        The `Split` of usable files.
    """
    from keras_airn.data.datasets import DatasetError, Split, check_examples
    from keras_airn.training.distributed import is_chief
    from keras_airn.training.run import shows_progress_bar

    report = bad_audio_report(out_dir, name) if is_chief() else None
    examples = check_examples(split.examples, sample_rate, bad_audio, report, resample, shows_progress_bar(verbose))
    if not examples:
        listed = report or bad_audio_report(out_dir, name)
        raise DatasetError(f"No usable {name} audio: every file is listed in {listed}.")
    return Split(examples, split.label_names)
