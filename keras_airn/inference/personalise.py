"""On-device learning, driven as an app drives it: a trainable `.tflite` and its signatures only.

A trainable model (`AudioClassifier.export(..., trainable=True)`, `keras_airn.export.trainable`)
keeps its classifier head in variables with free slots. Enrolling labelled clips runs `infer` for
each window's embedding and `train` on shuffled batches of them; a label the model does not know
takes a free slot. The classes the clips leave out are kept by the model's replay set (embeddings
of a few shipped clips per class, carried in the file) mixed into the batches: clips of one new
sound alone teach that sound without making it the answer to everything. The head that results is saved to a `.npz` file bound to the model it came from
(its SHA-256): `edge.classify --head`, `edge.listen --head` and `WindowScorer(head=...)` load it.

Example:
>>> model = TrainableModel("export/airn_b0_deploy_waveform_fp32_trainable.tflite")
>>> losses = model.enroll([("street.flac", "street"), ("doorbell_48k_stereo.wav", "doorbell")])
>>> [model.labels[i] for i in model.in_use]
['bark', 'doorbell', 'speech', 'street']
>>> model.head().save("head.npz")
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from keras_airn.errors import KerasAirnError

DEFAULT_EPOCHS = 20
DEFAULT_BATCH_SIZE = 8
HEAD_FORMAT = 1  # the head file's layout; a file of another is refused


class HeadError(KerasAirnError):
    """A head file or an enrolment that cannot be used with this model."""


@dataclasses.dataclass
class Head:
    """A trainable model's classifier head: weights, slots in use and their labels.

    Attributes:
        w: (embedding, slots) weights.
        b: (slots,) biases.
        mask: (slots,) 1 for a slot in use, 0 for a free one.
        labels: one per slot ("" for a free one).
        model_sha256: the SHA-256 of the `.tflite` file this head belongs to.
        tail: the adapted pointwise layers as one vector, for a model exported with
            `adapt_stages` (`keras_airn.export.tail`), else None.
    """

    w: np.ndarray
    b: np.ndarray
    mask: np.ndarray
    labels: list[str]
    model_sha256: str
    tail: np.ndarray | None = None

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """The logits `infer` gives (N, D) pooled embeddings with this head (a head-only model):
        a slot not in use at `MASKED_LOGIT`."""
        from keras_airn.inference.artifacts import MASKED_LOGIT

        return embeddings @ self.w + self.b + (1.0 - self.mask) * MASKED_LOGIT

    def save(self, path: str) -> None:
        """Writes the head to `path` (.npz) atomically.

        Raises:
            HeadError: `path` is a folder.
        """
        from keras_airn import files

        if os.path.isdir(path):
            raise HeadError(f"{path}: is a folder; name the head file to write (.npz).")

        def write(target):
            with open(target, "wb") as handle:
                tail = {} if self.tail is None else {"tail": self.tail}
                np.savez(handle, w=self.w, b=self.b, mask=self.mask, labels=np.array(self.labels, dtype=str),
                         model_sha256=np.array(self.model_sha256), format=np.array(HEAD_FORMAT), **tail)

        files.write_atomically(path, write)

    @classmethod
    def load(cls, path: str) -> "Head":
        """Reads a head file.

        Raises:
            HeadError: no file, or not a whole head file of this format.
        """
        if not os.path.isfile(path):
            raise HeadError(f"{path}: no head file there.")
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != HEAD_FORMAT:
                    raise HeadError(f"{path}: head file format {int(data['format'])}, this version reads {HEAD_FORMAT}.")
                head = cls(np.asarray(data["w"], np.float32), np.asarray(data["b"], np.float32),
                           np.asarray(data["mask"], np.float32), [str(x) for x in data["labels"]],
                           str(data["model_sha256"]),
                           np.asarray(data["tail"], np.float32) if "tail" in data.files else None)
        except HeadError:
            raise
        except Exception as error:  # a truncated zip, a missing array, a file of another kind
            raise HeadError(f"{path}: not a whole head file ({type(error).__name__}: {error}).") from error
        slots = head.b.shape[0]
        if head.w.ndim != 2 or head.w.shape[1] != slots or head.mask.shape != (slots,) or len(head.labels) != slots:
            raise HeadError(f"{path}: the head's arrays do not agree in their number of slots.")
        return head


class TrainableModel:
    """A trainable `.tflite` run through its signatures (`infer`, `train`, `get_weights`,
    `set_weights`) with ai-edge-litert, as an app runs it.

    Args:
        path: the `.tflite` file (`keras_airn.export.trainable`).
        head: a head file (`Head.save`) to start from, else the shipped head.
        num_threads: interpreter threads.

    Raises:
        HeadError: not a trainable model, or a head of another model.
    """

    def __init__(self, path: str, head: str | None = None, num_threads: int = 1):
        from keras_airn.inference.artifacts import read_trainable_settings, tflite_interpreter
        from keras_airn.data.features import FrontEnd

        if not os.path.isfile(path):
            raise HeadError(f"No model file at {path!r}.")
        with open(path, "rb") as handle:
            data = handle.read()
        settings = read_trainable_settings(data)
        if settings is None:
            raise HeadError(f"{path}: not a trainable model (export one with `trainable=True` or "
                            f"`convert.tflite --trainable`).")
        self.path, self.settings = path, settings
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.replay = _replay_set(data, settings)
        self.front_end = FrontEnd.from_config(settings["front_end"])
        self.labels = list(settings["labels"])
        self.waveform_input = settings["input"] == "waveform"
        interpreter = tflite_interpreter(path, num_threads)
        self._runners = {name: interpreter.get_signature_runner(name) for name in settings["signatures"]}
        self._input = next(iter(self._runners["infer"].get_input_details()))
        if head is not None:
            self.load_head(head)

    @property
    def input_shape(self) -> tuple:
        return tuple(self._runners["infer"].get_input_details()[self._input]["shape"])

    @property
    def adapt_stages(self) -> int:
        """The last stages whose pointwise layers learn beside the head (0: the head alone)."""
        return int(self.settings.get("adapt_stages", 0))

    @property
    def max_classes(self) -> int:
        return int(self.settings["max_classes"])

    @property
    def in_use(self) -> list[int]:
        """The slots in use, in order."""
        return [i for i, label in enumerate(self.labels) if label]

    def infer(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (max_classes,), embedding (D,)) of one model input (1, ...)."""
        out = self._runners["infer"](**{self._input: np.asarray(inputs, np.float32)})
        return out["logits"][0], out["embedding"][0]

    def train_step(self, embeddings: np.ndarray, slots: np.ndarray) -> float:
        """One `train` call: an Adam step on (N, ...) embeddings labelled with slot indices."""
        labels = np.eye(self.max_classes, dtype=np.float32)[np.asarray(slots)]
        return float(self._runners["train"](embedding=np.asarray(embeddings, np.float32), label=labels)["loss"])

    def head(self) -> Head:
        """The head as it is now (`get_weights`)."""
        out = self._runners["get_weights"](restore_shipped=np.float32(0))
        return Head(out["w"], out["b"], out["mask"], list(self.labels), self.sha256, out.get("tail"))

    def reset(self) -> None:
        """Puts the shipped head and labels back."""
        self._runners["get_weights"](restore_shipped=np.float32(1))
        self.labels = list(self.settings["labels"])

    def set_head(self, head: Head, source: str = "the head") -> None:
        """Loads `head` (`set_weights`).

        Raises:
            HeadError: a head made on another model.
        """
        if head.model_sha256 != self.sha256:
            raise HeadError(f"{source} was made on another model ({head.model_sha256[:12]}, this is "
                            f"{self.sha256[:12]}: {self.path}).")
        if (head.tail is None) != (self.adapt_stages == 0):
            raise HeadError(f"{source} does not match the model's adapted layers ({self.adapt_stages} stages).")
        tail = {} if head.tail is None else {"tail": head.tail}
        self._runners["set_weights"](w=head.w, b=head.b, mask=head.mask, **tail)
        self.labels = list(head.labels)

    def load_head(self, path: str) -> None:
        """Loads a head file (`Head.save`); a head of another model is refused and nothing changes."""
        self.set_head(Head.load(path), path)

    def slot(self, label: str, add: bool = False) -> int:
        """The slot of `label`; with `add`, a free slot for a label the model does not know.

        Raises:
            HeadError: an unknown label (without `add`), or no free slot left.
        """
        if label in self.labels:
            return self.labels.index(label)
        if not add:
            raise HeadError(f"Unknown label {label!r}; the model knows {', '.join(self.labels[i] for i in self.in_use)}.")
        if "" not in self.labels:
            raise HeadError(f"No free slot for {label!r}: all {self.max_classes} slots are in use "
                            f"(remove a class, or export with a larger max_classes).")
        return self.labels.index("")

    def remove(self, label: str) -> None:
        """Frees `label`'s slot: `infer` no longer reports it."""
        index = self.slot(label)
        head = self.head()
        head.w[:, index], head.b[index], head.mask[index] = 0.0, 0.0, 0.0
        head.labels[index] = ""
        self.set_head(head)

    def model_inputs(self, audio: np.ndarray) -> list[np.ndarray]:
        """The model inputs (1, ...) of every window of a mono recording at the front-end's rate,
        as `WindowScorer` scores it."""
        from keras_airn.inference.runtime import WindowScorer

        scorer = WindowScorer(self, self.front_end)
        return [scorer.model_input(audio, start) for start in scorer.window_starts(len(audio), None)]

    def embeddings(self, clips) -> tuple[np.ndarray, list[int]]:
        """(embeddings (N, ...), clip index of each) of every window of each clip (`windows`)."""
        inputs, owners = self.windows(clips)
        return np.stack([self.infer(x)[1] for x in inputs]), owners

    def windows(self, clips) -> tuple[list[np.ndarray], list[int]]:
        """(model inputs (1, ...), clip index of each) of every window of each clip, read once.

        Args:
            clips: paths or mono waveforms at the front-end's rate.

        Raises:
            HeadError: a clip that cannot be read, is empty, silent or not finite (named).
        """
        from keras_airn.data.audio import AudioError, read_audio

        rows, owners = [], []
        for index, clip in enumerate(clips):
            name = clip if isinstance(clip, str) else f"clip {index}"
            try:
                audio = (read_audio(clip, self.front_end.sample_rate, resampler=self.front_end.resampler)
                         if isinstance(clip, str) else np.asarray(clip, np.float32))
            except AudioError as error:
                raise HeadError(str(error)) from error
            if audio.ndim != 1 or audio.size == 0:
                raise HeadError(f"{name}: expected mono audio with samples, got shape {audio.shape}.")
            if audio.size < self.front_end.win_length:
                raise HeadError(f"{name}: {audio.size} samples, shorter than one analysis window "
                                f"({self.front_end.win_length} samples at {self.front_end.sample_rate} Hz).")
            if not np.all(np.isfinite(audio)):
                raise HeadError(f"{name}: holds NaN or infinite samples.")
            if not np.any(audio):
                raise HeadError(f"{name}: is digital silence; enrol clips of the sound itself.")
            for inputs in self.model_inputs(audio):
                rows.append(inputs)
                owners.append(index)
        return rows, owners

    def enroll(self, examples, epochs: int = DEFAULT_EPOCHS, batch_size: int = DEFAULT_BATCH_SIZE,
               seed: int = 0, replay: bool = True) -> list[float]:
        """Learns from labelled clips: embeddings through `infer`, then `epochs` passes of shuffled
        batches through `train`. A label the model does not know takes a free slot.

        Args:
            examples: (clip, label) pairs; a clip is a path or a mono waveform at the front-end's rate.
            epochs: passes over the clips' windows.
            batch_size: windows per `train` call.
            seed: the shuffle's seed.
            replay: mix in the model's replay set for the classes in use that `examples` leave out
                (`replay_rows`).

        Returns:
            The mean loss of each epoch.

        Raises:
            HeadError: no examples, a bad clip, or more new labels than free slots; the head is
                then as it was.
        """
        from keras_airn.errors import check_count

        try:
            check_count("epochs", epochs)
            check_count("batch_size", batch_size)
        except ValueError as error:
            raise HeadError(str(error)) from error
        examples = list(examples)
        if not examples:
            raise HeadError("No clips to enrol.")
        labels = list(self.labels)
        slots = []
        try:
            for _, label in examples:
                if not isinstance(label, str) or not label.strip():
                    raise HeadError(f"Every clip needs a label (a non-empty name), got {label!r}.")
                slots.append(self.slot(label, add=True))
                self.labels[slots[-1]] = label
            embeddings, owners = self.embeddings([clip for clip, _ in examples])
        except HeadError:
            self.labels = labels
            raise
        return self.train(embeddings, np.array([slots[i] for i in owners]), epochs, batch_size, seed, replay)

    def replay_rows(self, leave_out=()) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, slots) of the replay set's rows whose class is in use under its shipped
        name and whose slot is not in `leave_out` (empty when the model carries none)."""
        embeddings, labels = self.replay
        slots = np.array([self.labels.index(x) if x in self.labels else -1 for x in labels], int)
        keep = (slots >= 0) & ~np.isin(slots, list(leave_out))
        return embeddings[keep], slots[keep]

    def train(self, embeddings: np.ndarray, slots: np.ndarray, epochs: int = DEFAULT_EPOCHS,
              batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0, replay: bool = True) -> list[float]:
        """`epochs` passes of shuffled batches of (N, D) embeddings labelled with slot indices
        through `train`, the replay set's rows of the other classes mixed in (`replay`); returns
        the mean loss of each epoch (`enroll` without the clips)."""
        slots = np.asarray(slots)
        extra, extra_slots = self.replay_rows(set(slots.tolist())) if replay else ([], [])
        if len(extra_slots):
            embeddings, slots = np.concatenate([embeddings, extra]), np.concatenate([slots, extra_slots])
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(slots))
            batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            losses.append(float(np.mean([self.train_step(embeddings[b], slots[b]) for b in batches])))
        return losses


def _replay_set(data: bytes, settings: dict) -> tuple[np.ndarray, list[str]]:
    """(embeddings (N, ...), label of each) of a trainable model's replay set (`REPLAY_FILE`),
    empty for a model exported without one."""
    from keras_airn.inference.artifacts import read_attached_file

    replay = settings.get("replay")
    raw = read_attached_file(data, replay["file"]) if replay else None
    if raw is None:
        return np.zeros((0, 1), np.float32), []
    embeddings = np.frombuffer(raw, "<f4").astype(np.float32).reshape(replay["shape"])
    return embeddings, list(replay["labels"])


def read_enrolment(source: str) -> list[tuple[str, str]]:
    """(path, label) pairs of a folder (`<label>/**/*.wav|...`) or a `path,label[,split]` CSV
    (every row, whatever its split).

    Raises:
        HeadError: no such folder or file, or no clips in it.
    """
    from keras_airn.data import datasets

    if not os.path.exists(source):
        raise HeadError(f"{source}: no such folder or CSV file.")
    reader = datasets.read_folder if os.path.isdir(source) else datasets.read_csv
    try:
        splits = reader(source, test_fraction=0.0, min_classes=1)
    except (KerasAirnError, OSError) as error:
        raise HeadError(str(error)) from error
    pairs = [(e.path, split.label_names[e.label]) for split in splits.values() for e in split.examples]
    if not pairs:
        raise HeadError(f"{source}: no clips to enrol.")
    return pairs
