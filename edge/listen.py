"""Classify live audio: a microphone, or raw PCM on stdin, window by window as it arrives.

Scores a window every `--hop_seconds` (each window the model's clip long) with
`keras_airn.inference.streaming.StreamScorer`: the same windows and scores `edge.classify` gives for a
file of the same samples. `--threshold` turns the (optionally `--smoothing`-averaged) scores into
events, a label starting when its score reaches the threshold and ending when it falls below
`threshold - hysteresis`. Input at another rate is resampled as files are (the front-end's resampler).

Usage:
  arecord -q -f S16_LE -r 16000 -c 1 | python -m edge.listen --model export/m.tflite --stdin \\
      --sample_rate 16000 --format s16le
  ffmpeg -i talk.mp3 -f s16le -ac 1 -ar 44100 - | python -m edge.listen --model m.tflite --stdin \\
      --sample_rate 44100 --threshold 0.6 --json
  python -m edge.listen --model export/m.tflite            # the default microphone (PortAudio)
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_airn import cli  # noqa: E402

MODEL = flags.DEFINE_string("model", None, "A .tflite, .onnx, OpenVINO IR .xml or .keras model (front_end.json "
                            "and labels beside it).")
STDIN = flags.DEFINE_bool("stdin", False, "Read raw mono PCM from stdin instead of the microphone.")
# A rate far below any audio format's is a typo (--sample_rate 16 for 16000) that would otherwise
# resample the stream up a thousandfold and classify hours of audio for every second read.
MIN_STREAM_RATE = 1000
SAMPLE_RATE = flags.DEFINE_integer("sample_rate", None, "Rate of the input in Hz (default: the model's).",
                                   lower_bound=MIN_STREAM_RATE)
FORMAT = flags.DEFINE_enum("format", "s16le", ["s16le", "f32le"], "--stdin sample format (little-endian).")
DEVICE = flags.DEFINE_string("device", None, "Microphone: a PortAudio device name or index (default: the "
                             "system's input).")
HOP = flags.DEFINE_float("hop_seconds", None, "Time between window starts (default: half a clip).")
TOP_K = flags.DEFINE_integer("top_k", 3, "Labels per window.", lower_bound=1)
SMOOTHING = flags.DEFINE_integer("smoothing", 1, "Windows averaged before --threshold (1: none).", lower_bound=1)
THRESHOLD = flags.DEFINE_float("threshold", None, "Score at which a label's event starts (default: no events).")
HYSTERESIS = flags.DEFINE_float("hysteresis", 0.1, "An event ends when its score falls this far below "
                                "--threshold.", lower_bound=0.0)
LABELS = flags.DEFINE_string("labels", None, "labels.json / labels.txt (default: beside the model).")
HEAD = flags.DEFINE_string("head", None, "A trainable model's head file (edge.personalise --out); its labels are used.")
FRONT_END = flags.DEFINE_string("front_end", None, "front_end.json or a release dataset name (default: the "
                                "front_end.json beside the model).")
JSON_OUT = flags.DEFINE_bool("json", False, "One JSON object per line: windows {start, end, top}, events "
                             "{event, label, onset[, offset], score}.")
CHUNK_SECONDS = 0.1  # how much input is read at a time


def stdin_chunks(rate: int, sample_format: str):
    """Float32 mono chunks of raw PCM from stdin, CHUNK_SECONDS at a time, until it closes."""
    dtype, scale = {"s16le": ("<i2", 1 / 32768), "f32le": ("<f4", 1.0)}[sample_format]
    width = np.dtype(dtype).itemsize
    size = max(1, int(CHUNK_SECONDS * rate)) * width
    pending = b""
    while True:
        data = sys.stdin.buffer.read(size)
        if not data:
            return
        data = pending + data
        usable = len(data) - len(data) % width
        pending = data[usable:]
        yield np.frombuffer(data[:usable], dtype).astype(np.float32) * np.float32(scale)


def microphone_chunks(rate: int, device):
    """Float32 mono chunks from a PortAudio input device (sounddevice), until Ctrl-C."""
    import queue

    from keras_airn.inference.runtime import ClassifyError

    try:
        import sounddevice
    except (ImportError, OSError) as error:  # OSError: PortAudio itself is missing
        raise ClassifyError(f"no microphone support here ({error}); pipe audio in with --stdin instead.") from error
    blocks: queue.Queue = queue.Queue()
    try:
        stream = sounddevice.InputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                         blocksize=int(CHUNK_SECONDS * rate),
                                         callback=lambda data, frames, time, status: blocks.put(data[:, 0].copy()))
    except (ValueError, sounddevice.PortAudioError) as error:
        raise ClassifyError(f"no microphone to record from ({error}); pipe audio in with --stdin instead.") from error
    with stream:
        while True:
            yield blocks.get()


def main(argv):
    del argv
    from keras_airn.data.audio import resample_stream
    from keras_airn.inference.runtime import WindowScorer, labels_beside, top_labels
    from keras_airn.inference.streaming import EventTracker, StreamScorer

    if not MODEL.value:
        raise app.UsageError("--model is required.")
    if THRESHOLD.value is not None and not 0 < THRESHOLD.value <= 1:
        raise app.UsageError(f"--threshold must be in (0, 1], got {THRESHOLD.value}.")
    classifier = WindowScorer.from_file(MODEL.value, FRONT_END.value, HEAD.value)
    labels = classifier.labels or labels_beside(MODEL.value, classifier.num_classes, LABELS.value)
    scorer = StreamScorer(classifier, HOP.value)
    tracker = (EventTracker(labels, THRESHOLD.value, HYSTERESIS.value, SMOOTHING.value)
               if THRESHOLD.value is not None else None)
    rate = classifier.front_end.sample_rate
    source_rate = SAMPLE_RATE.value or rate
    chunks = (stdin_chunks(source_rate, FORMAT.value) if STDIN.value
              else microphone_chunks(source_rate, int(DEVICE.value) if (DEVICE.value or "").isdigit()
                                     else DEVICE.value))

    def report(windows, final=False):
        for window in windows:
            top = top_labels(window.scores, labels, TOP_K.value)
            if JSON_OUT.value:
                print(json.dumps({"start": round(window.start_seconds, 4), "end": round(window.end_seconds, 4),
                                  "top": [[label, round(score, 6)] for label, score in top]}))
            else:
                print(f"{window.start_seconds:8.2f}-{window.end_seconds:8.2f} s: "
                      + ", ".join(f"{label} {score:.2f}" for label, score in top))
            for event in tracker.update(window) if tracker else []:
                print_event(event)
        if final and tracker:
            for event in tracker.close():
                print_event(event)
        sys.stdout.flush()

    def print_event(event):
        if JSON_OUT.value:
            fields = {"event": "end" if event.offset is not None else "start", "label": event.label,
                      "onset": round(event.onset, 4), "score": round(event.peak, 6)}
            if event.offset is not None:
                fields["offset"] = round(event.offset, 4)
            print(json.dumps(fields))
        elif event.offset is None:
            print(f"event start: {event.label} at {event.onset:.2f} s (score {event.peak:.2f})")
        else:
            print(f"event end:   {event.label} {event.onset:.2f}-{event.offset:.2f} s (peak {event.peak:.2f})")

    try:
        for chunk in resample_stream(chunks, source_rate, rate, classifier.front_end.resampler):
            report(scorer.push(chunk))
    except KeyboardInterrupt:  # the usual way to stop listening: the last window and events still come
        pass
    if scorer.samples_seen == 0:
        from keras_airn.inference.runtime import ClassifyError

        raise ClassifyError("the input ended before one sample (no audio on stdin?): nothing to classify.")
    report(scorer.finish(), final=True)


if __name__ == "__main__":
    cli.run(main)
