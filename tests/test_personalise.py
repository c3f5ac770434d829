"""On-device learning: a trainable `.tflite` (builtin ops only) learns through its own signatures
as Keras would, takes new classes, and refuses bad clips and foreign heads with one line."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.export.old_runtime import old_runtime_python
from keras_airn.export.trainable import MASKED_LOGIT, embedding_model, export_trainable
from keras_airn.data.features import FrontEnd, clip_features
from keras_airn.data.examples import Example
from keras_airn.export.common import ConversionError, spread
from keras_airn.inference.artifacts import TRAINABLE_FILE
from keras_airn.inference.personalise import HeadError, TrainableModel, read_enrolment
from keras_airn.inference.runtime import WindowScorer
from tests.helpers import TINY, randomize_batchnorm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(sample_rate=8000, clip_seconds=0.64)
LABELS = ["low", "mid", "high"]
BANDS = {"low": (100, 400), "mid": (600, 1200), "high": (1500, 2500), "whistle": (3000, 3900)}  # Hz


def sound(label, seed, seconds=0.5):
    """Noise in the label's frequency band (a new draw per seed): a random network's embeddings
    already tell these apart, pure tones they barely do."""
    rng = np.random.default_rng(seed)
    count = int(seconds * FRONT_END.sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(count))
    frequency = np.fft.rfftfreq(count, 1 / FRONT_END.sample_rate)
    low, high = BANDS[label]
    spectrum[(frequency < low) | (frequency > high)] = 0
    audio = np.fft.irfft(spectrum, count)
    return (0.3 * audio / np.abs(audio).max()).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(Keras deploy network, folder, reports of the fp32 spectrogram and int8 waveform trainable models)."""
    root = tmp_path_factory.mktemp("trainable")
    keras.utils.set_random_seed(0)
    network = ka.reparameterize(randomize_batchnorm(ka.create_model("b0", num_classes=3, **TINY), seed=3))
    classifier = ka.AudioClassifier(network, FRONT_END, LABELS)
    out = str(root / "export")
    fp32 = classifier.export(out, precision="fp32", trainable=True, max_classes=5,
                             random_calibration=True, num_eval=8)
    # The random network's embeddings vary little between clips: a larger rate than the default.
    # Calibrated on labelled clips: the int8 file carries REPLAY_PER_CLASS of each as its replay set.
    int8 = export_trainable(network, str(root / "export_int8"), "int8", waveform=True, front_end=FRONT_END,
                            label_names=LABELS, max_classes=5, learning_rate=0.05, num_eval=8,
                            calibration_examples=labelled_clips(root / "calibration", REPLAY_PER_CLASS + 1),
                            examples=labelled_clips(root / "evaluation", 3, seed=2000),
                            replay_per_class=REPLAY_PER_CLASS)
    return network, root, fp32, int8


REPLAY_PER_CLASS = 4


def labelled_clips(folder, count: int, seed: int = 1000) -> list[Example]:
    """`count` WAV files of each of LABELS in `folder`, class by class (sounds `seed`, `seed` + 1, ...)."""
    import soundfile

    os.makedirs(folder, exist_ok=True)
    clips = []
    for index, label in enumerate(LABELS):
        for number in range(count):
            path = str(folder / f"{label}_{number}.wav")
            soundfile.write(path, sound(label, seed + number), FRONT_END.sample_rate)
            clips.append(Example(path, index))
    return clips


def test_export_is_builtin_only_and_matches_keras(exported):
    _, root, fp32, int8 = exported
    for report, folder in ((fp32, "export"), (int8, "export_int8")):
        (precision, entry), = report["artifacts"].items()
        assert entry["signatures"] == ["infer", "train", "get_weights", "set_weights"]
        assert not [op for op in entry["ops"] if op.startswith("Flex") or op == "CUSTOM"], entry["ops"]
        assert {"ASSIGN_VARIABLE", "READ_VARIABLE"} <= set(entry["ops"])  # the head lives in variables
        assert os.path.isfile(root / folder / entry["file"]) and report["format"] == "tflite_trainable"
        old = entry["tflite_runtime_2_14"]  # fp32 as LiteRT does, int8 within its rounding
        bound = 1e-5 if precision == "fp32" else 0.1
        assert not old["checked"] or (old["runs"] and old["max_rel_diff_to_litert"] < bound), old
    assert fp32["artifacts"]["fp32"]["max_rel_logit_error"] <= 1e-4
    assert fp32["artifacts"]["fp32"]["top1_agreement"] == 1.0
    # int8: the network's convolutions are integer; the front-end and head float (a QUANTIZE after
    # the log-mel, one DEQUANTIZE before the pool).
    assert int8["artifacts"]["int8"]["ops"].get("DEQUANTIZE") == 1 and "QUANTIZE" in int8["artifacts"]["int8"]["ops"]


def model_path(root, report, folder="export"):
    (entry,) = report["artifacts"].values()
    return str(root / folder / entry["file"])


def test_train_signature_is_keras_adam_on_the_head(exported):
    network, root, fp32, _ = exported
    model = TrainableModel(model_path(root, fp32))
    clips = [(sound(label, seed), label) for seed in range(4) for label in ("low", "high", "whistle")]
    embeddings = np.stack([model.infer(model.model_inputs(audio)[0])[1] for audio, _ in clips])
    # The embedding is the Keras network's up to its classifier.
    backbone, _ = embedding_model(network)
    reference = backbone.predict(np.stack([clip_features(a, 0, FRONT_END).numpy()[..., None] for a, _ in clips]),
                                 verbose=0)
    np.testing.assert_allclose(embeddings, reference, atol=1e-5 * np.abs(reference).max())

    shipped = model.head()
    slots = np.array([model.slot(label, add=True) for _, label in clips])
    assert slots.tolist()[:3] == [0, 2, 3]  # "whistle" takes the first free slot
    batches = [np.arange(i, min(i + 5, len(clips))) for i in range(0, len(clips), 5)] * 3
    for batch in batches:
        model.train_step(embeddings[batch], slots[batch])
    learned = model.head()

    dense = keras.layers.Dense(5)
    keras_model = keras.Sequential([keras.Input((embeddings.shape[1],)), dense,
                                    keras.layers.Rescaling(1.0, offset=(1.0 - np.eye(5)[:4].sum(0)) * MASKED_LOGIT)])
    dense.set_weights([shipped.w, shipped.b])
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-3),
                        loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    for batch in batches:
        keras_model.train_on_batch(embeddings[batch], np.eye(5, dtype=np.float32)[slots[batch]])
    keras_w, keras_b = dense.get_weights()
    assert np.abs(learned.w - keras_w).max() <= 1e-5 and np.abs(learned.b - keras_b).max() <= 1e-5
    assert np.abs(learned.w - shipped.w).max() > 1e-3  # it did learn
    np.testing.assert_array_equal(learned.mask, [1, 1, 1, 1, 0])
    ours = (embeddings @ learned.w + learned.b)[:, :4].argmax(1)
    np.testing.assert_array_equal(ours, (embeddings @ keras_w + keras_b)[:, :4].argmax(1))


def train_on_tflite_runtime_214(path, embeddings, labels, tmp_path) -> dict:
    """The weights (`get_weights`) after `train` on each batch of (embeddings, one-hot labels),
    run by tflite-runtime 2.14 in its own environment."""
    np.savez(tmp_path / "batches.npz", embedding=embeddings, label=labels)
    child = ("import sys, numpy as np\nfrom tflite_runtime.interpreter import Interpreter\n"
             "it = Interpreter(model_path=sys.argv[1]); it.allocate_tensors()\n"
             "train = it.get_signature_runner('train'); data = np.load(sys.argv[2])\n"
             "for e, l in zip(data['embedding'], data['label']): train(embedding=e, label=l)\n"
             "np.savez(sys.argv[3], **it.get_signature_runner('get_weights')(restore_shipped=np.float32(0)))\n")
    subprocess.run([old_runtime_python(), "-c", child, path, str(tmp_path / "batches.npz"), str(tmp_path / "w.npz")],
                   check=True, timeout=300)
    return dict(np.load(tmp_path / "w.npz"))


@pytest.mark.skipif(old_runtime_python() is None, reason="no tflite-runtime 2.14 environment (make venv-tflite214)")
def test_training_runs_the_same_on_tflite_runtime_214(exported, tmp_path):
    _, root, _, int8 = exported
    path = model_path(root, int8, "export_int8")
    rng = np.random.default_rng(0)
    model = TrainableModel(path)
    dim = model.head().w.shape[0]
    embeddings = rng.normal(size=(20, 8, dim)).astype(np.float32)
    labels = np.eye(5, dtype=np.float32)[rng.integers(0, 5, (20, 8))]
    old = train_on_tflite_runtime_214(path, embeddings, labels, tmp_path)
    for e, l in zip(embeddings, labels):
        model.train_step(e, l.argmax(1))
    assert np.abs(model.head().w - TrainableModel(path).head().w).max() > 1e-3  # both trained
    np.testing.assert_allclose(old["w"], model.head().w, atol=1e-6)
    np.testing.assert_allclose(old["b"], model.head().b, atol=1e-6)
    np.testing.assert_array_equal(old["mask"], model.head().mask)


def test_new_class_is_learned_then_removed_and_reset(exported, tmp_path):
    _, root, _, int8 = exported
    path = model_path(root, int8, "export_int8")
    model = TrainableModel(path)
    enrol = [(sound(label, seed), label) for seed in range(5) for label in ("low", "mid", "high", "whistle")]
    losses = model.enroll(enrol, epochs=60, batch_size=8)
    assert losses[-1] < 0.7 * losses[0]
    model.head().save(str(tmp_path / "head.npz"))
    scorer = WindowScorer(path, FRONT_END, head=str(tmp_path / "head.npz"))
    assert scorer.labels == ["low", "mid", "high", "whistle"] and scorer.num_classes == 4
    held_out = [(sound(label, 100 + seed), label) for seed in range(5) for label in ("low", "mid", "high", "whistle")]
    predicted = [scorer.labels[int(scorer.classify_audio(audio)[0].scores.argmax())] for audio, _ in held_out]
    assert np.mean([p == label for p, (_, label) in zip(predicted, held_out)]) >= 0.8, predicted
    assert sum(p == "whistle" for p, (_, label) in zip(predicted, held_out) if label == "whistle") >= 4

    model.remove("whistle")
    assert "whistle" not in model.labels and model.head().mask.tolist() == [1, 1, 1, 0, 0]
    model.reset()
    assert model.labels == LABELS + ["", ""] and model.head().mask.tolist() == [1, 1, 1, 0, 0]
    shipped = TrainableModel(path).head()
    np.testing.assert_array_equal(model.head().w, shipped.w)


def test_a_new_class_enrolled_alone_keeps_the_known_ones_through_the_replay_set(exported):
    """The file's replay set is what its `infer` gives a few calibration clips of each class;
    enrolling clips of one new sound alone mixes it in, so the known classes are still told
    apart; without it the new sound is the answer to everything."""
    _, root, _, int8 = exported
    model = TrainableModel(model_path(root, int8, "export_int8"))
    embeddings, labels = model.replay
    assert int8["artifacts"]["int8"]["replay_examples"] == len(labels) == REPLAY_PER_CLASS * len(LABELS)
    assert labels == [label for label in LABELS for _ in range(REPLAY_PER_CLASS)]
    chosen = [str(root / "calibration" / f"{label}_{seed}.wav") for label in LABELS
              for seed in spread(list(range(REPLAY_PER_CLASS + 1)), REPLAY_PER_CLASS)]
    np.testing.assert_allclose(embeddings, model.embeddings(chosen)[0], atol=1e-5)

    held_out = [(sound(label, 300 + seed), label) for seed in range(4) for label in LABELS + ["whistle"]]
    new_only = [(sound("whistle", seed), "whistle") for seed in range(5)]
    accuracy = {}
    for replay in (True, False):
        model.reset()
        model.enroll(new_only, epochs=60, replay=replay)
        scorer = WindowScorer(model, FRONT_END)
        predicted = [model.labels[int(scorer.classify_audio(audio)[0].scores.argmax())] for audio, _ in held_out]
        accuracy[replay] = {known: np.mean([p == label for p, (_, label) in zip(predicted, held_out)
                                            if (label == "whistle") != known]) for known in (True, False)}
    assert accuracy[True][True] >= 0.75 and accuracy[True][False] >= 0.75, accuracy
    assert accuracy[False][True] <= 0.4, accuracy  # everything is "whistle"

    model.reset()
    model.remove("mid")
    assert sorted(set(model.replay_rows()[1].tolist())) == [model.slot("low"), model.slot("high")]
    assert len(model.replay_rows(leave_out={model.slot("low")})[1]) == REPLAY_PER_CLASS


def test_bad_clips_labels_and_heads_are_refused_by_name(exported, tmp_path):
    _, root, fp32, int8 = exported
    model = TrainableModel(model_path(root, int8, "export_int8"))
    shipped = model.head()
    for clip, message in ((np.zeros(4000, np.float32), "digital silence"),
                          (np.full(4000, np.nan, np.float32), "NaN"),
                          (np.ones(10, np.float32), "shorter than one analysis window"),
                          (np.ones((2, 4000), np.float32), "mono")):
        with pytest.raises(HeadError, match=message):
            model.enroll([(sound("low", 0), "low"), (clip, "new")])
    with pytest.raises(HeadError, match="No free slot"):
        model.enroll([(sound("low", i), f"word{i}") for i in range(3)])
    assert model.labels == LABELS + ["", ""]  # nothing changed by the refusals
    np.testing.assert_array_equal(model.head().w, shipped.w)

    other = TrainableModel(model_path(root, fp32))
    other.head().save(str(tmp_path / "other.npz"))
    with pytest.raises(HeadError, match="made on another model"):
        model.load_head(str(tmp_path / "other.npz"))
    shipped.save(str(tmp_path / "head.npz"))
    data = open(tmp_path / "head.npz", "rb").read()
    open(tmp_path / "cut.npz", "wb").write(data[: len(data) // 2])
    with pytest.raises(HeadError, match="not a whole head file"):
        model.load_head(str(tmp_path / "cut.npz"))
    with pytest.raises(HeadError, match="not a trainable model"):
        TrainableModel(str(tmp_path / "head.npz"))
    with pytest.raises(HeadError, match="is a folder"):
        shipped.save(str(tmp_path))
    with pytest.raises(HeadError, match="epochs must be a whole number"):
        model.enroll([(sound("low", 0), "low")], epochs=0)
    with pytest.raises(ConversionError, match="fp16 is not a precision of a trainable model"):
        export_trainable(exported[0], str(tmp_path / "fp16"), "fp16", front_end=FRONT_END)
    with pytest.raises(ValueError, match="float input and output"):
        ka.AudioClassifier(exported[0], FRONT_END, LABELS).export(str(tmp_path / "io"), precision="int8",
                                                                  trainable=True, int8_io=True)


def test_one_new_class_is_enrolled_from_its_own_folder(tmp_path):
    """A user adding one word has one class folder: read as clips to enrol, not refused as a
    one-class data set."""
    import soundfile

    os.makedirs(tmp_path / "knock")
    for seed in range(2):
        soundfile.write(str(tmp_path / "knock" / f"{seed}.wav"), sound("whistle", seed), FRONT_END.sample_rate)
    pairs = read_enrolment(str(tmp_path))
    assert sorted(pairs) == sorted((str(tmp_path / "knock" / f"{seed}.wav"), "knock") for seed in range(2))


def run_tool(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_personalise_and_classify_command_lines(exported, tmp_path):
    import soundfile

    _, root, _, int8 = exported
    path = model_path(root, int8, "export_int8")
    for seed in range(4):
        for label in ("low", "whistle"):
            os.makedirs(tmp_path / "clips" / label, exist_ok=True)
            soundfile.write(str(tmp_path / "clips" / label / f"{seed}.wav"), sound(label, seed), FRONT_END.sample_rate)
    soundfile.write(str(tmp_path / "test.wav"), sound("whistle", 50), FRONT_END.sample_rate)
    head = str(tmp_path / "head.npz")
    done = run_tool("edge.personalise", f"--model={path}", f"--enroll={tmp_path / 'clips'}", f"--out={head}",
                    "--epochs=40")
    assert done.returncode == 0, done.stderr
    assert "classes: low, mid, high, whistle" in done.stdout and os.path.isfile(head)
    os.makedirs(tmp_path / "folder.npz")  # refused before any clip is enrolled
    done = run_tool("edge.personalise", f"--model={path}", f"--enroll={tmp_path / 'clips'}",
                    f"--out={tmp_path / 'folder.npz'}")
    assert done.returncode == 1 and "(a folder)" in done.stderr and "enrolled" not in done.stdout, done
    done = run_tool("edge.classify", f"--model={path}", f"--head={head}", f"--audio={tmp_path / 'test.wav'}",
                    "--json", "--top_k=1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[str(tmp_path / "test.wav")]["overall"][0][0] == "whistle"
    open(tmp_path / "bad.npz", "wb").write(b"PK\x03\x04 not a head")
    done = run_tool("edge.classify", f"--model={path}", f"--head={tmp_path / 'bad.npz'}",
                    f"--audio={tmp_path / 'test.wav'}")
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr


def test_android_code_calls_the_signatures_the_model_has(exported):
    """edge/android/Personaliser.kt names each signature's inputs and outputs as the exported
    waveform model has them (it is compiled on no phone here; this keeps it true to the model)."""
    import re

    from keras_airn.inference.artifacts import tflite_interpreter

    _, root, _, int8 = exported
    signatures = tflite_interpreter(model_path(root, int8, "export_int8")).get_signature_list()
    source = open(os.path.join(ROOT, "edge", "android", "Personaliser.kt")).read()
    calls = re.findall(r"runSignature\((.*?)\"(\w+)\",?\s*\)", source, re.DOTALL)
    assert sorted(name for _, name in calls) == sorted(signatures)
    for arguments, name in calls:
        assert set(re.findall(r"\"(\w+)\" to", arguments)) == set(
            signatures[name]["inputs"] + signatures[name]["outputs"]), name
    assert f'"{TRAINABLE_FILE}"' in source  # where it reads the replay set's settings


def test_benchmark_times_a_trainable_models_infer_signature(exported):
    from edge.artifact_timing import load_runner

    _, root, fp32, _ = exported
    runner = load_runner(model_path(root, fp32), threads=1)  # its infer, not the first subgraph
    runner.run()
    assert runner.profile == (fp32["params"], fp32["macs"])


def test_adapting_the_last_stages_is_keras_adam_on_their_pointwise_layers(tmp_path):
    import tensorflow as tf

    from keras_airn.export.tail import tail_of
    from keras_airn.export.trainable import ADAPT_LEARNING_RATE

    keras.utils.set_random_seed(1)
    # Two blocks in each adapted stage: a strided block with its shortcut conv, then an identity one.
    config = dict(TINY, depths=(1, 1, 2, 2))
    network = ka.reparameterize(randomize_batchnorm(ka.create_model("b0", num_classes=3, **config), seed=5))
    classifier = ka.AudioClassifier(network, FRONT_END, LABELS)
    for bad in (5, -1, 1.5):
        with pytest.raises(ConversionError, match="adapt_stages must be a whole number from 0 to 4"):
            classifier.export(str(tmp_path / "bad"), trainable=True, adapt_stages=bad, random_calibration=True)
    with pytest.raises(ConversionError, match="go with trainable=True"):
        classifier.export(str(tmp_path / "bad"), adapt_stages=2)
    report = classifier.export(str(tmp_path), precision="fp32", trainable=True, max_classes=3, adapt_stages=2,
                               random_calibration=True, num_eval=8)
    entry = report["artifacts"]["fp32"]
    assert not [op for op in entry["ops"] if op.startswith("Flex") or op == "CUSTOM"], entry["ops"]
    assert entry["max_rel_logit_error"] <= 1e-4
    model = TrainableModel(str(tmp_path / entry["file"]))
    assert model.adapt_stages == 2 and model.head().tail is not None
    clips = [(sound(label, seed), label) for seed in range(3) for label in LABELS]
    inputs = [model.model_inputs(audio)[0] for audio, _ in clips]
    embeddings = np.stack([model.infer(x)[1] for x in inputs])  # feature maps entering stage 4
    slots = np.array([model.slot(label) for _, label in clips])
    batches = [np.arange(i, min(i + 4, len(clips))) for i in range(0, len(clips), 4)] * 2
    for batch in batches:
        model.train_step(embeddings[batch], slots[batch])
    if old_runtime_python() is not None:  # the same steps on tflite-runtime 2.14
        even = [np.arange(i, i + 2) for i in range(0, 8, 2)]  # one batch shape for the stacked batches
        old = train_on_tflite_runtime_214(model.path, np.stack([embeddings[b] for b in even]),
                                          np.stack([np.eye(3, dtype=np.float32)[slots[b]] for b in even]), tmp_path)
        again = TrainableModel(model.path)
        for batch in even:
            again.train_step(embeddings[batch], slots[batch])
        np.testing.assert_allclose(old["tail"], again.head().tail, atol=1e-6)
        np.testing.assert_allclose(old["w"], again.head().w, atol=1e-6)

    learns = [v for layer in network.layers if layer.name == "head_projection" or
              (layer.name.split("_")[0] in ("s4", "s5") and layer.name.rsplit("_res", 1)[-1].split("_", 1)[-1]
               in ("a_head", "c", "d", "branch1")) for v in layer.trainable_variables]
    assert len(learns) == 2 + 2 * (8 + 6)  # the head; per stage 4 convs of a strided block, 3 of an identity one
    optimizer = keras.optimizers.Adam(ADAPT_LEARNING_RATE)
    log_mel = np.stack([clip_features(a, 0, FRONT_END).numpy()[..., None] for a, _ in clips])
    for batch in batches:
        with tf.GradientTape() as tape:
            loss = keras.losses.CategoricalCrossentropy(from_logits=True)(
                np.eye(3, dtype=np.float32)[slots[batch]], network(log_mel[batch], training=False))
        optimizer.apply_gradients(zip(tape.gradient(loss, learns), learns))
    learned = model.head()
    _, _, keras_tail = tail_of(network, 2)
    keras_w, keras_b = network.get_layer("head_projection").get_weights()
    flat = np.concatenate([v.ravel() for v in keras_tail.values()])
    assert np.abs(learned.tail - flat).max() <= 1e-5 and np.abs(learned.w - keras_w).max() <= 1e-5
    assert np.abs(learned.b - keras_b).max() <= 1e-5
    assert np.abs(learned.tail - TrainableModel(model.path).head().tail).max() > 1e-4  # the tail did learn
    logits = np.stack([model.infer(x)[0] for x in inputs])
    reference = network.predict(log_mel, verbose=0)
    np.testing.assert_allclose(logits, reference, atol=1e-4 * np.abs(reference).max())
    head_path = str(tmp_path / "head.npz")
    learned.save(head_path)
    again = TrainableModel(model.path, head=head_path)
    np.testing.assert_array_equal(again.head().tail, learned.tail)
