"""Bad input is named in one line: audio the check passes is read, dataset descriptions and
artifacts are refused by name, exports delete nothing, every CLI's usage error is one line, and a
stream takes the input forms `predict` takes."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf

import keras_airn as ka
from keras_airn.data.audio import decode_audio
from keras_airn.data.datasets import Example, check_examples
from train.demo_data import synth_clip
from tests.helpers import TINY
from tests.test_reliability import FRONT_END, ROOT, build


@pytest.mark.parametrize("kind", ["pcm24", "pcm32", "float", "flac_named_wav", "truncated"])
def test_audio_the_check_accepts_is_read_in_the_pipeline(tmp_path, kind):
    audio = (0.5 * synth_clip("chirp_up", 1.0, 16000, np.random.default_rng(0))).astype(np.float32)
    path = str(tmp_path / "clip.wav")
    subtype = {"pcm24": "PCM_24", "pcm32": "PCM_32", "float": "FLOAT"}.get(kind, "PCM_16")
    soundfile.write(path, audio, 16000, subtype=subtype, format="FLAC" if kind == "flac_named_wav" else "WAV")
    if kind == "truncated":  # the header promises more data than the file holds
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    assert check_examples([Example(path, 0)], 16000, "fail") == [Example(path, 0)]
    decoded = list(tf.data.Dataset.from_tensors(path).map(lambda p: decode_audio(p, 16000)))[0].numpy()
    if kind == "truncated":
        assert 4000 < len(decoded) < 16000, len(decoded)
    else:
        assert len(decoded) == 16000
    np.testing.assert_allclose(decoded, audio[: len(decoded)], atol=1e-4)


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    build().save(str(root / "model.keras"))
    return root


@pytest.mark.parametrize("case", ["missing_model", "missing_audio", "nan_audio", "no_front_end", "bad_folder",
                                  "leftover", "bad_init", "all_unusable", "no_cluster"])
def test_cli_errors_are_one_line_without_a_traceback(tiny_model_file, tmp_path, case):
    model = str(tiny_model_file / "model.keras")
    FRONT_END.save(str(tiny_model_file))
    good = str(tmp_path / "good.wav")
    soundfile.write(good, np.zeros(16000, np.float32), 16000)
    nan = str(tmp_path / "nan.wav")
    soundfile.write(nan, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    if case in ("bad_init", "no_cluster"):  # a folder to train on, and a pre-trained model that is not one
        for index, label in enumerate(("low", "high") * 3):
            os.makedirs(tmp_path / "clips" / label, exist_ok=True)
            soundfile.write(str(tmp_path / "clips" / label / f"{index}.wav"),
                            0.5 * synth_clip(f"tone_{label}", 1.0, 16000, np.random.default_rng(index)), 16000)
        (tmp_path / "junk.keras").write_text("not a model")
    if case == "all_unusable":  # every training file is listed and skipped: nothing is left to train on
        for label in ("low", "high"):
            os.makedirs(tmp_path / "unusable" / label)
            for index in range(3):
                (tmp_path / "unusable" / label / f"{index}.wav").write_text(f"not audio {label} {index}")
    commands = {
        "missing_model": (["edge.classify", f"--model={tmp_path}/none.tflite", f"--audio={good}"],
                          f"error: No model file at '{tmp_path}/none.tflite'"),
        "missing_audio": (["edge.classify", f"--model={model}", f"--audio={tmp_path}/no_such.wav"],
                          f"error: {tmp_path}/no_such.wav: file not found."),
        "nan_audio": (["edge.classify", f"--model={model}", f"--audio={good},{nan}"],
                      "nan.wav: audio contains NaN"),
        "no_front_end": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/out",
                          f"--front_end={tmp_path}/absent.json"], "absent.json' is neither a front_end.json"),
        "bad_folder": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}/nowhere",
                        f"--out_dir={tmp_path}/run"], "nowhere: dataset folder not found"),
        # A flag's second value is not silently dropped (absl leaves it as an argument).
        "leftover": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                      "--epochs", "3", "5"], "unexpected argument(s) '5'"),
        "bad_init": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}/clips",
                      f"--init={tmp_path}/junk.keras", f"--out_dir={tmp_path}/run"],
                     "junk.keras' is not a readable .keras model: not a zip archive"),
        "no_cluster": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}/clips",
                        "--strategy=multi_worker", f"--out_dir={tmp_path}/run"],
                       "error: --strategy multi_worker needs TF_CONFIG naming the workers"),
        "all_unusable": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}/unusable",
                          f"--out_dir={tmp_path}/run"],
                         f"error: No usable train audio: every file is listed in {tmp_path}/run/bad_audio_train.txt"),
    }
    arguments, message = commands[case]
    result = subprocess.run([sys.executable, "-m", *arguments], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    if case == "missing_audio":  # one file: its own line, no summary of one failure after it
        assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [message]
    if case == "leftover":
        assert not os.path.exists(f"{tmp_path}/run")  # refused before anything ran
    if case == "bad_init":  # refused before the run's split or checkpoints are written
        assert set(os.listdir(tmp_path / "run")) <= {".lock"}, os.listdir(tmp_path / "run")
    if case == "nan_audio":  # the good file is still classified and printed
        assert result.stdout.startswith(f"{good}: class_"), result.stdout


def test_bad_dataset_descriptions_and_artifacts_are_named(tmp_path):
    from edge.artifact_timing import load_runner
    from keras_airn.data.datasets import DatasetError, read_urbansound8k, read_vggsound
    from keras_airn.inference.runtime import ClassifyError

    (tmp_path / "audio").mkdir()
    leaking = tmp_path / "vggsound.csv"
    leaking.write_text("abc,10,dog,train\nxyz,3,cat,train\nabc,10,dog,test\n")
    with pytest.raises(DatasetError, match=r"1 clip\(s\) listed more than once, e.g. abc_000010 \(in both train "
                                           r"and test: leakage\)"):
        read_vggsound(str(leaking), str(tmp_path / "audio"), "train")
    (tmp_path / "us8k" / "metadata").mkdir(parents=True)
    (tmp_path / "us8k" / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,classID,class\na.wav,0,dog\n")
    with pytest.raises(DatasetError, match=r"UrbanSound8K.csv: no column\(s\) \['fold'\]"):
        read_urbansound8k(str(tmp_path / "us8k"), "train")
    recording = tmp_path / "audio" / "P01_01.wav"
    soundfile.write(str(recording), np.zeros(16000, np.float32), 16000)
    segments = [Example(str(recording), 0, 0, 8000), Example(str(recording), 1, 8000, 24000)]
    kept = check_examples(segments, 16000, "skip", str(tmp_path / "bad.txt"))
    assert kept == segments[:1]
    assert "P01_01.wav: segment 0.500-1.500 s ends after the recording (1.000 s)" in (tmp_path / "bad.txt").read_text()
    corrupt = tmp_path / "model.tflite"
    corrupt.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ClassifyError, match="model.tflite: not a loadable .tflite model"):
        load_runner(str(corrupt), 1)


def test_export_refuses_a_folder_of_another_models_artifacts_and_deletes_nothing(tiny_model_file, tmp_path):
    from keras_airn.export.tflite import ConversionError, export

    out = str(tmp_path / "export")
    export(build(), out, ["fp32"], front_end=FRONT_END, label_names=["low", "high"], num_eval=1)
    before = sorted(os.listdir(out))
    with pytest.raises(ConversionError, match="holds artifacts of another model"):
        export(build(), out, ["fp32"], front_end=FRONT_END, label_names=["cat", "dog"], num_eval=1)
    assert sorted(os.listdir(out)) == before and ka.load_labels(os.path.join(out, "labels.json")) == ["low", "high"]
    fp32 = [n for n in before if n.endswith(".tflite")]
    report = export(build(), out, ["fp16"], front_end=FRONT_END, label_names=["low", "high"], num_eval=1)
    # Same model: fine; an export only adds or replaces what it writes, the report lists both.
    assert sorted(n for n in os.listdir(out) if n.endswith(".tflite")) == sorted(fp32 + [report["artifacts"]["fp16"]
                                                                                        ["file"]])
    assert set(json.load(open(os.path.join(out, "report.json")))["artifacts"]) == {"fp32", "fp16"}
    # An empty or missing precision list writes nothing and deletes nothing: one line naming it.
    classifier = ka.AudioClassifier(build(), FRONT_END, ["low", "high"])
    for empty in ([], None, ""):
        with pytest.raises(ConversionError, match="no precision given"):
            classifier.export(out, precision=empty, num_eval=1)
    assert sorted(os.listdir(out)) == sorted(before + [report["artifacts"]["fp16"]["file"]])
    refused = subprocess.run([sys.executable, "-m", "convert.tflite", f"--model={tiny_model_file}/model.keras",
                              f"--front_end={out}/front_end.json", f"--out_dir={out}", "--precisions="], cwd=ROOT,
                             capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith("error: no precision"), \
        refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and os.path.isfile(os.path.join(out, fp32[0]))


def test_bad_arguments_of_the_python_api_are_named(tmp_path, capsys):
    from keras_airn.export.tflite import ConversionError, export
    from keras_airn.data.labels import LabelError
    from keras_airn.inference.runtime import WindowScorer
    from keras_airn.task import AudioClassifier, PresetError

    with pytest.raises(LabelError, match="the single string 'abc'"):
        AudioClassifier.from_preset("b0", labels="abc")
    with pytest.raises(PresetError, match="num_classes must be a positive integer, got 0"):
        AudioClassifier.from_preset("b0", num_classes=0)
    with pytest.raises(PresetError, match=r"No model file at 'b2'.* \(networks: b0, b1, b1_2d, "):
        AudioClassifier.from_preset("b2")  # perhaps a network's name mistyped: the names follow
    with pytest.raises(PresetError, match=r"none.keras'\.?$"):  # a file's path: no list of networks
        AudioClassifier.from_preset(str(tmp_path / "none.keras"))
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        ka.create_model("b0", num_classes=0, **TINY)
    classifier = AudioClassifier(build(), FRONT_END, ["low", "high"])
    wave = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match=r"unknown label 1.7"):
        classifier._as_split([wave], [1.7], str(tmp_path), "train")
    assert classifier._as_split([wave], np.array([1.0]), str(tmp_path), "train").examples[0].label == 1
    occupied = tmp_path / "a_file"
    occupied.write_text("mine")
    with pytest.raises(ConversionError, match="a_file: exists and is not a folder"):
        export(build(), str(occupied), ["fp32"], front_end=FRONT_END)
    assert occupied.read_text() == "mine"
    with pytest.raises(ConversionError, match=r"int8 needs representative data: .*random_calibration=True"):
        export(build(), str(tmp_path / "int8"), ["int8"], front_end=FRONT_END)
    assert not (tmp_path / "int8").exists()  # refused before the folder is made
    for split in ("train", "test"):  # one recording copied into both split folders
        for label in ("low", "high"):
            os.makedirs(tmp_path / "folder" / split / label)
            soundfile.write(str(tmp_path / "folder" / split / label / f"{split}.wav"),
                            synth_clip(f"tone_{label}", 1.0, 16000, np.random.default_rng(len(split))), 16000)
    soundfile.write(str(tmp_path / "folder" / "test" / "low" / "copy.wav"),
                    soundfile.read(str(tmp_path / "folder" / "train" / "low" / "train.wav"))[0], 16000)
    with pytest.raises(ka.DatasetError, match=r"1 recording\(s\) in two splits .*copy.wav \(test, low\)"):
        ka.read_folder(str(tmp_path / "folder"))
    os.remove(tmp_path / "folder" / "test" / "low" / "copy.wav")  # and one recording under two labels
    soundfile.write(str(tmp_path / "folder" / "train" / "high" / "copy.wav"),
                    soundfile.read(str(tmp_path / "folder" / "train" / "low" / "train.wav"))[0], 16000)
    with pytest.raises(ka.DatasetError, match=r"1 recording\(s\) under two labels"):
        ka.read_folder(str(tmp_path / "folder"))
    long_file = str(tmp_path / "long.wav")
    soundfile.write(long_file, np.zeros(16000 * 3, np.float32), 16000)
    WindowScorer(classifier.network, FRONT_END).classify_file(long_file, progress=True)
    assert "/3 s of audio" in capsys.readouterr().err  # the bar has a total


def test_recommend_with_bad_data_is_refused_before_timing(tiny_model_file, tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run([sys.executable, "-m", "edge.benchmark", f"--artifacts={tiny_model_file}/model.keras",
                             f"--out_dir={out}", "--recommend", f"--recommend_data={tmp_path}/absent"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1 and "absent" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not out.exists()


def test_a_stream_takes_the_input_forms_predict_takes_by_one_rule():
    from keras_airn.inference.runtime import ClassifyError, Window, WindowScorer
    from keras_airn.inference.streaming import EventTracker, StreamScorer

    classifier = ka.AudioClassifier(build(), FRONT_END, ["low", "high"])
    wave = 0.5 * synth_clip("tone_low", 1.5, 16000, np.random.default_rng(0)).astype(np.float32)
    pcm16 = np.round(wave * 32767).astype(np.int16)

    def stream(chunk, scorer=None):
        scorer = scorer or StreamScorer(WindowScorer(classifier.network, FRONT_END))
        return [w.scores for w in scorer.push(chunk) + scorer.finish()]

    floats = stream(pcm16 / 32768.0)
    np.testing.assert_allclose(stream(pcm16), floats, atol=1e-6)  # int16 scaled as predict scales it
    np.testing.assert_allclose(stream(pcm16, StreamScorer(classifier)), floats, atol=1e-6)  # an AudioClassifier
    for stereo in (np.stack([wave, wave], axis=1), np.stack([wave, wave])):
        with pytest.raises(ClassifyError, match=r"StreamScorer.push: expected mono 1-D samples, got shape \(2"):
            stream(stereo)
        with pytest.raises(ValueError, match="x.mean"):
            classifier.predict([stereo])
    with pytest.raises(ClassifyError, match="StreamScorer.push: got None"):
        stream(None)
    with pytest.raises(TypeError, match="waveform 0: got None"):
        classifier.predict([None])
    short = StreamScorer(classifier)
    short.push(wave[:4000])
    assert len(short.finish()) == 1 and short.finish() == []  # a second finish() repeats nothing
    with pytest.raises(ClassifyError, match="smoothing must be a whole number"):
        EventTracker(["a", "b"], 0.5, smoothing=2.5)
    with pytest.raises(ClassifyError, match="a window of 3 scores for a tracker of 2 labels"):
        EventTracker(["a", "b"], 0.5).update(Window(0.0, 1.0, np.array([0.2, 0.3, 0.5])))


@pytest.mark.parametrize("case", ["parse_error", "usage_error", "nan", "lr_steps", "dropout", "eval_period", "num_eval",
                                  "empty_stdin", "one_byte", "rate_typo", "tiny_hop", "tiny_hop_files", "comma", "closed_pipe",
                                  "missing_calibration_clip", "trainable_train_form"])
def test_every_usage_error_is_one_line_and_a_closed_pipe_is_quiet(tiny_model_file, tmp_path, case):
    model = str(tiny_model_file / "model.keras")
    FRONT_END.save(str(tiny_model_file))
    comma = str(tmp_path / "a,b.wav")
    soundfile.write(comma, 0.1 * np.random.default_rng(0).standard_normal(24000).astype(np.float32), 16000)
    listen = ["edge.listen", f"--model={model}", "--stdin"]
    vggsound = tmp_path / "vggsound.csv"  # the train split's second row has no audio file
    vggsound.write_text("a,0,cat,train\nb,0,dog,train\ngone,0,dog,train\nc,0,cat,test\nd,0,dog,test\n")
    for stem in "abcd":
        soundfile.write(str(tmp_path / f"{stem}_000000.wav"), np.zeros(16000, np.float32), 16000)
    commands = {  # (arguments, stdin, the error line or None for success)
        "parse_error": (["edge.classify", f"--model={model}", f"--audio={comma}", "--top_k=x"], b"",
                        "error: flag --top_k=x: invalid literal"),
        "usage_error": (["edge.classify", f"--model={model}"], b"", "error: --model and --audio are required."),
        "nan": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                 "--gain_db=nan"], b"", "error: --gain_db must be a number, got NaN."),
        "lr_steps": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                      "--lr_steps=a,b"], b"", "error: flag --lr_steps=['a', 'b']: --lr_steps must be"),
        "dropout": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                     "--dropout=1.5"], b"", "error: flag --dropout=1.5: --dropout must be in [0, 1)."),
        "eval_period": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                         "--eval_period=3"], b"", "error: flags eval_period="),
        "num_eval": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/run", "--num_eval=0"], b"",
                     "error: flag --num_eval=0: 0 is not"),
        "empty_stdin": (listen, b"", "error: the input ended before one sample"),
        "one_byte": (listen + ["--sample_rate=8000"], b"\x01", "error: the input ended before one sample"),
        "rate_typo": (listen + ["--sample_rate=16"], b"\0" * 32000, "error: flag --sample_rate=16: 16 is not integer >= 1000"),
        "tiny_hop": (listen + ["--hop_seconds=1e-9"], b"\0" * 32000, "error: hop_seconds 1e-09 is shorter than one"),
        "tiny_hop_files": (["edge.classify", f"--model={model}", f"--audio={comma}", "--hop_seconds=1e-9"], b"",
                           "error: hop_seconds 1e-09 is shorter than one"),
        "comma": (["edge.classify", f"--model={model}", f"--audio={comma}"], b"", None),
        "closed_pipe": (["edge.classify", f"--model={model}", f"--audio={comma}", "--json"], b"", None),
        "missing_calibration_clip": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/run",
                                      f"--csv={vggsound}", f"--data_dir={tmp_path}", "--precisions=int8"], b"",
                                     f"error: {vggsound}: 1 row(s) of the 'train' split have no audio file in "
                                     f"{tmp_path} (e.g. gone_000000)"),
        "trainable_train_form": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/run", "--trainable",
                                  "--keep_train_form", "--random_calibration"], b"",
                                 "error: A trainable model is built from the deploy form"),
    }
    arguments, stdin, message = commands[case]
    process = subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if case == "closed_pipe":  # as `| head -c 1`: the reader goes away after one byte
        process.stdin.close()
        assert process.stdout.read(1) == b"{"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=300)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr[-2000:]
        return
    stdout, stderr = (s.decode() for s in process.communicate(stdin, timeout=300))
    if message is None:
        assert process.returncode == 0 and stdout.startswith(f"{comma}: "), (stdout, stderr[-2000:])
        return
    lines = [line for line in stderr.splitlines()  # TensorFlow's own start-up lines aside
             if line.strip() and not re.match(r"(WARNING: All log messages|[IWE]\d{4} )", line)]
    assert process.returncode == 1 and lines[-1].startswith(message), stderr[-2000:]
    assert "Traceback" not in stderr and len(lines) == 1 and not (tmp_path / "run").exists(), stderr[-2000:]


def test_a_pickle_saved_as_pyth_is_named_a_refused_pickle(tmp_path):
    import pickle

    pytest.importorskip("torch")
    from keras_airn.network.checkpoint import CheckpointError, read_state_dict

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    pyth = tmp_path / "payload.pyth"
    pyth.write_bytes(pickle.dumps({"model_state": Payload()}))
    with pytest.raises(CheckpointError, match=r"payload.pyth' is a pickle naming code \(builtins.print\), "
                                              r"not a torch.save checkpoint: refused") as refused:
        read_state_dict(str(pyth))
    assert "truncated" not in str(refused.value) and "\n" not in str(refused.value)
