"""Live audio: windows scored as a stream's samples arrive, equal to `classify_file`'s windows.

`StreamScorer` takes chunks of any size (a microphone callback's 10 ms, a pipe's seconds) at the
model's rate, keeps only the samples its next windows need, and scores a window every hop as soon
as its last sample is in. Its windows, and `finish()`'s last one, are the ones
`WindowScorer.classify_file` gives for a file holding the same samples, with the same scores
(tests/test_classify.py, any chunking). For a spectrogram-input model the front-end runs here and
each hop computes only the frames it adds (when the hop is a whole number of front-end hops). `EventTracker` turns window scores into labelled events
with onset and offset times (smoothing, threshold, hysteresis).

Example (`microphone_chunks` stands for any source of float32 mono chunks at the model's rate;
`edge.listen` reads a microphone or a pipe)::

    scorer = StreamScorer(WindowScorer("export/airn_b0_deploy_waveform_int8.tflite", front_end), hop_seconds=0.5)
    for chunk in microphone_chunks():
        for window in scorer.push(chunk):
            print(window.start_seconds, window.scores.argmax())
    last = scorer.finish()
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from keras_airn.data.features import host_frames, host_log_mel_of_frames
from keras_airn.inference.runtime import WindowScorer, ClassifyError, Window, softmax


class StreamScorer:
    """Scores a mono stream window by window, as `WindowScorer.classify_file` scores a file.

    Args:
        classifier: a `keras_airn.inference.runtime.WindowScorer` (a Keras model, a spectrogram- or
            waveform-input `.tflite`), or an `AudioClassifier`.
        hop_seconds: time between window starts (default: half a clip, as `classify_file`).
    """

    def __init__(self, classifier: WindowScorer, hop_seconds: float | None = None):
        if hasattr(classifier, "network") and hasattr(classifier, "front_end"):  # an AudioClassifier
            classifier = WindowScorer(classifier.network, classifier.front_end)
        if not isinstance(classifier, WindowScorer):
            raise ClassifyError(f"StreamScorer takes a WindowScorer or an AudioClassifier, got "
                                f"{type(classifier).__name__}.")
        self.classifier = classifier
        self.rate = classifier.front_end.sample_rate
        self.crop = classifier.front_end.clip_size - 1
        self.hop = classifier.hop_samples(hop_seconds)  # the hop of `WindowScorer.window_starts`
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # stream index of _buffer[0]
        self._next = 0  # start of the next window
        self._last_start = None  # start of the last window scored
        self._finished = False
        # A spectrogram model's front-end runs here: each hop computes only its new frames (and the
        # window's edge frames, which see the window's zero padding instead of the stream).
        front_end = classifier.front_end
        self._reuses_frames = not classifier.waveform_input
        self._frames: dict[int, np.ndarray] = {}  # stream frame index -> log-mel frame
        self.frames_computed = 0  # log-mel frames this scorer transformed (a measure of the reuse)
        left = front_end.n_fft // 2 - (front_end.n_fft - front_end.win_length) // 2
        self._interior = [j * front_end.hop_length - left >= 0
                          and j * front_end.hop_length - left + front_end.win_length <= self.crop
                          for j in range(front_end.num_frames)]

    @property
    def samples_seen(self) -> int:
        return self._offset + self._buffer.shape[0]

    def push(self, chunk) -> list[Window]:
        """Adds samples; returns the windows they complete (often none).

        Args:
            chunk: mono samples at the front-end's rate, any length: float, or integer PCM scaled
                as `AudioClassifier.predict` scales it (`keras_airn.data.audio.pcm_samples`, one rule).
        """
        from keras_airn.data.audio import pcm_samples

        if self._finished:
            raise ClassifyError("push() after finish(): start a new StreamScorer.")
        try:
            chunk = pcm_samples(chunk, "StreamScorer.push")
        except (TypeError, ValueError) as error:
            raise ClassifyError(str(error)) from error
        self._buffer = np.concatenate([self._buffer, chunk])
        windows = []
        while self._next + self.crop <= self.samples_seen:
            windows.append(self._score(self._next))
            self._next += self.hop
        # Keep what the next window needs, and the last crop's worth for finish()'s window.
        keep = min(self._next, max(0, self.samples_seen - self.crop))
        if keep > self._offset:
            self._buffer, self._offset = self._buffer[keep - self._offset :], keep
        return windows

    def finish(self) -> list[Window]:
        """The stream ended: the window `classify_file` adds at the end of a recording (aligned
        to its end, or the whole of a recording shorter than a crop), if there is one; a second
        call returns none."""
        if self._finished:
            return []
        self._finished = True
        total = self.samples_seen
        if total == 0:
            return []
        if total <= self.crop:  # one window over the whole (short) recording
            return [Window(0.0, total / self.rate, softmax(self.classifier.logits(self._buffer, 0)))]
        if self._last_start == total - self.crop:
            return []
        return [self._score(total - self.crop)]

    def _score(self, start: int) -> Window:
        self._last_start = start
        if self._reuses_frames and start % self.classifier.front_end.hop_length == 0:
            logits = self.classifier.infer(self._window_features(start)[None, ..., None])
        else:
            logits = self.classifier.logits(self._buffer, start - self._offset)
        return Window(start / self.rate, (start + self.crop) / self.rate, softmax(logits))

    def _window_features(self, start: int) -> np.ndarray:
        """The log-mel of the window at `start` (on the hop grid), its interior frames taken from
        the stream's frames already computed: frame j of the window is the stream's frame
        start / hop + j wherever its samples all lie inside the window."""
        front_end = self.classifier.front_end
        frames = host_frames(self._buffer[start - self._offset : start - self._offset + self.crop], front_end)
        first = start // front_end.hop_length
        features = np.empty((len(frames), front_end.n_mels), np.float32)
        cached = [self._interior[j] and first + j in self._frames for j in range(len(frames))]
        fresh = [j for j, hit in enumerate(cached) if not hit]
        if fresh:
            features[fresh] = host_log_mel_of_frames(frames[fresh], front_end)
            self.frames_computed += len(fresh)
        for j, hit in enumerate(cached):
            if hit:
                features[j] = self._frames[first + j]
            elif self._interior[j]:
                self._frames[first + j] = features[j]
        for old in [k for k in self._frames if k < first]:  # frames before this window: not needed again
            del self._frames[old]
        return features


@dataclasses.dataclass
class Event:
    """A label's score above the threshold from `onset` to `offset` seconds (None: still on)."""

    label: str
    onset: float
    offset: float | None
    peak: float


class EventTracker:
    """Labelled events from window scores: the mean of the last `smoothing` windows' scores; a
    label starts when its mean reaches `threshold` and ends when it falls below
    `threshold - hysteresis`.

    Args:
        labels: class names, index = score position.
        threshold: score at which an event starts.
        hysteresis: how far below the threshold the score must fall to end it.
        smoothing: windows averaged (1: none).

    Example:
    >>> tracker = EventTracker(["dog", "bell"], threshold=0.6, hysteresis=0.1, smoothing=1)
    >>> [e.label for e in tracker.update(Window(0.0, 1.0, np.array([0.9, 0.1])))]
    ['dog']
    >>> [(e.label, e.offset) for e in tracker.update(Window(0.5, 1.5, np.array([0.2, 0.8])))]
    [('dog', 1.0), ('bell', None)]
    """

    def __init__(self, labels, threshold: float, hysteresis: float = 0.1, smoothing: int = 1):
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, np.integer)):
            raise ClassifyError(f"smoothing must be a whole number of windows, got {smoothing!r}.")
        if not 0.0 < threshold <= 1.0 or not 0.0 <= hysteresis < threshold or smoothing < 1:
            raise ClassifyError(f"need 0 < threshold <= 1, 0 <= hysteresis < threshold and smoothing >= 1; got "
                                f"{threshold}, {hysteresis}, {smoothing}.")
        self.labels = list(labels)
        self.threshold, self.hysteresis = threshold, hysteresis
        self._recent = collections.deque(maxlen=smoothing)
        self._active: dict[int, Event] = {}
        self._last_end = 0.0

    def smoothed(self, window: Window) -> np.ndarray:
        """Adds a window; returns the mean scores of the last `smoothing` windows."""
        self._recent.append(window.scores)
        return np.mean(self._recent, axis=0)

    def update(self, window: Window) -> list[Event]:
        """Adds a window; returns the events it starts or ends (an ended one has its offset: the
        end of the last window it was on in)."""
        if np.shape(window.scores) != (len(self.labels),):
            raise ClassifyError(f"a window of {np.size(window.scores)} scores for a tracker of {len(self.labels)} "
                                f"labels.")
        scores = self.smoothed(window)
        changed = []
        for index, score in enumerate(scores):
            active = self._active.get(index)
            if active is None and score >= self.threshold:
                self._active[index] = Event(self.labels[index], window.start_seconds, None, float(score))
                changed.append(dataclasses.replace(self._active[index]))  # a snapshot: the tracker updates its own
            elif active is not None and score < self.threshold - self.hysteresis:
                changed.append(dataclasses.replace(self._active.pop(index), offset=self._last_end))
            elif active is not None:
                active.peak = max(active.peak, float(score))
        self._last_end = window.end_seconds
        return sorted(changed, key=lambda event: event.offset is None)

    def close(self) -> list[Event]:
        """The stream ended: every event still on ends at the last window's end."""
        ended = [dataclasses.replace(event, offset=self._last_end) for event in self._active.values()]
        self._active.clear()
        return ended
