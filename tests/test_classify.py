"""`edge.classify`: the same scores from .keras and both .tflite forms, windows over time, errors."""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from keras_airn.export.onnx import export_onnx
from keras_airn.export.tflite import export
from keras_airn.inference.runtime import WindowScorer, ClassifyError, labels_beside
from keras_airn.data.features import FrontEnd
from tests.helpers import tiny_model_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(clip_seconds=1.28)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    keras_path = tiny_model_folder(root, FRONT_END)["keras"]
    spectrogram = export(keras_path, str(root / "spec"), ["fp32"], front_end=FRONT_END, num_eval=2)
    waveform = export(keras_path, str(root / "wave"), ["fp32"], waveform=True, front_end=FRONT_END, num_eval=2)
    onnx = export_onnx(keras_path, str(root / "onnx"), front_end=FRONT_END, num_eval=2)
    return {"keras": keras_path,
            "spectrogram": str(root / "spec" / spectrogram["artifacts"]["fp32"]["file"]),
            "waveform": str(root / "wave" / waveform["artifacts"]["fp32"]["file"]),
            "onnx": str(root / "onnx" / onnx["artifacts"]["fp32"]["file"]),
            "audio": str(root / "long.flac"), "root": root}


def test_all_model_kinds_agree_window_by_window(models):
    results = {}
    for kind in ("keras", "spectrogram", "waveform", "onnx"):
        windows = WindowScorer(models[kind], FRONT_END).classify_file(models["audio"], hop_seconds=0.5)
        results[kind] = np.stack([w.scores for w in windows])
        starts = [w.start_seconds for w in windows]
    crop = (FRONT_END.clip_size - 1) / 16000
    assert starts[:5] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0]) and starts[-1] == pytest.approx(3.3 - crop, abs=1e-4)
    assert results["keras"].shape == (len(starts), 4)
    np.testing.assert_allclose(results["spectrogram"], results["keras"], atol=1e-5)
    np.testing.assert_allclose(results["onnx"], results["keras"], atol=1e-5)
    np.testing.assert_allclose(results["waveform"], results["keras"], atol=1e-3)


def test_cli_prints_labels_over_time(models, tmp_path):
    second = str(tmp_path / "second.wav")
    shutil.copy(models["audio"], second)
    # The README's form: several files after one --audio (absl leaves all but the first as arguments).
    result = subprocess.run([sys.executable, "-m", "edge.classify", f"--model={models['keras']}",
                             "--audio", models["audio"], second, "--hop_seconds=1", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    both = json.loads(result.stdout)
    assert list(both) == [models["audio"], second] and both[second] == both[models["audio"]]
    output = both[models["audio"]]
    assert len(output["windows"]) == 4 and {label for label, _ in output["overall"]} <= {"a", "b", "c", "d"}
    scores = [score for _, score in output["windows"][0]["top"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert 0.75 <= sum(scores) < 1.0  # the best 3 of 4 softmax probabilities, not logits


def test_errors_name_the_problem(models, tmp_path, caplog):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    classifier = WindowScorer(models["keras"], FRONT_END)
    with pytest.raises(ClassifyError, match="unsupported audio type"):
        classifier.classify_file(str(text))
    soundfile.write(str(tmp_path / "fast.wav"), np.zeros(4000, np.float32), 8000)
    with pytest.raises(ClassifyError, match="sample rate 8000 Hz, expected 16000 Hz"):
        classifier.classify_file(str(tmp_path / "fast.wav"), resample_audio=False)
    assert len(classifier.classify_file(str(tmp_path / "fast.wav"))) == 1  # resampled by default
    with pytest.raises(ClassifyError, match="does not match the front-end"):
        WindowScorer(models["spectrogram"], FrontEnd(clip_seconds=2.56))
    with pytest.raises(ClassifyError, match="expected a .keras, .tflite, .onnx, .xml model"):
        WindowScorer(str(text), FRONT_END)
    # The CLI names the kind before looking for the front_end.json the text file does not have.
    result = subprocess.run([sys.executable, "-m", "edge.classify", f"--model={text}", f"--audio={models['audio']}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "notes.txt: expected a .keras, .tflite, .onnx, .xml model" in result.stderr, \
        result.stderr[-2000:]
    with pytest.raises(ClassifyError, match="4 labels; the model has 5"):
        labels_beside(models["keras"], 5, str(models["root"] / "labels.json"))
    for hop in (0.0, float("nan"), float("inf")):  # nan and inf were a traceback
        with pytest.raises(ClassifyError, match="hop_seconds must be a positive number"):
            classifier.classify_file(models["audio"], hop_seconds=hop)
    # A front-end other than the model's own (any window length runs on the Keras model) is named.
    with caplog.at_level(logging.WARNING):
        WindowScorer.from_file(models["keras"], "urbansound8k")
    assert "is not the front_end.json beside the model" in caplog.text


def test_long_files_are_classified_block_by_block_as_a_whole(models, tmp_path):
    """25 s at 44.1 kHz stereo: read in 10 s blocks, the windows are those of the whole recording."""
    from keras_airn.data.audio import read_audio

    rng = np.random.default_rng(4)
    path = str(tmp_path / "long.wav")
    soundfile.write(path, rng.uniform(-0.3, 0.3, (int(25 * 44100), 2)).astype(np.float32), 44100)
    classifier = WindowScorer(models["keras"], FRONT_END)
    streamed = classifier.classify_file(path, hop_seconds=1.0)
    whole = classifier.classify_audio(read_audio(path, 16000), hop_seconds=1.0)
    assert len(streamed) == len(whole) == 25
    for a, b in zip(streamed, whole):
        assert (a.start_seconds, a.end_seconds) == (b.start_seconds, b.end_seconds)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


@pytest.mark.parametrize("seconds", [0.3, 0.9, 1.25])
def test_short_clips_score_the_same_in_all_model_kinds(models, tmp_path, seconds):
    """Clips shorter than the crop: frames repeated in Keras, zero-padded into the waveform model."""
    path = str(tmp_path / "short.wav")
    audio = np.random.default_rng(5).uniform(-0.4, 0.4, int(seconds * 16000)).astype(np.float32)
    soundfile.write(path, audio, 16000, subtype="FLOAT")
    scores = {kind: WindowScorer(models[kind], FRONT_END).classify_file(path)[0].scores
              for kind in ("keras", "spectrogram", "waveform")}
    np.testing.assert_allclose(scores["spectrogram"], scores["keras"], atol=1e-5)
    # Exact up to float rounding (1.5e-8 measured); without repeating the last frame inside the
    # waveform model, 2 of these 3 clips differ by 1e-3 with this small model.
    np.testing.assert_allclose(scores["waveform"], scores["keras"], atol=1e-5)
    assert np.abs(scores["keras"] - np.full(4, 0.25)).max() > 1e-3  # the scores say something


def test_digital_silence_inside_and_at_the_end_of_a_recording_is_audio(models, tmp_path):
    """Exact zeros mid-file and at the end are scored as the Keras model scores them; only the
    runtime's end marker (a recording shorter than the crop) repeats the last frame."""
    rng = np.random.default_rng(9)
    audio = rng.uniform(-0.4, 0.4, int(3.0 * 16000)).astype(np.float32)
    audio[int(0.9 * 16000) : int(1.8 * 16000)] = 0.0  # a gated gap: windows end inside it
    audio[-int(0.4 * 16000) :] = 0.0  # and the recording ends in digital silence
    path = str(tmp_path / "gaps.wav")
    soundfile.write(path, audio, 16000, subtype="FLOAT")
    keras_windows = WindowScorer(models["keras"], FRONT_END).classify_file(path, hop_seconds=0.25)
    wave_windows = WindowScorer(models["waveform"], FRONT_END).classify_file(path, hop_seconds=0.25)
    ending_in_zeros = [w for w in keras_windows if 0.9 < w.end_seconds <= 1.8 or w.end_seconds > 2.6]
    assert len(ending_in_zeros) >= 4
    for ours, theirs in zip(wave_windows, keras_windows):
        np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["keras", "spectrogram", "waveform", "onnx"])
def test_a_stream_in_any_chunks_scores_the_windows_of_the_file(models, tmp_path, kind):
    from keras_airn.inference.streaming import StreamScorer

    classifier = WindowScorer(models[kind], FRONT_END)
    rng = np.random.default_rng(4)
    for seconds, hop in ((3.3, 0.5), (3.3, 0.35), (0.9, None)):  # end-aligned last window; a short recording
        audio = rng.uniform(-0.4, 0.4, int(seconds * 16000)).astype(np.float32)
        path = str(tmp_path / f"{seconds}.wav")
        soundfile.write(path, audio, 16000, subtype="FLOAT")
        expected = classifier.classify_file(path, hop_seconds=hop)
        for trial in range(2):  # chunks of 10 ms to 1.5 s, drawn at random
            scorer, windows, at = StreamScorer(classifier, hop), [], 0
            while at < len(audio):
                size = int(rng.integers(160, 24000))
                windows += scorer.push(audio[at : at + size])
                at += size
            windows += scorer.finish()
            assert [(w.start_seconds, w.end_seconds) for w in windows] == [
                (w.start_seconds, w.end_seconds) for w in expected], (seconds, hop, trial)
            for ours, theirs in zip(windows, expected):
                np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-6)
            assert len(scorer._buffer) <= FRONT_END.clip_size + 24000  # memory stays bounded
            if kind != "waveform" and seconds > 2:  # each hop transformed only its new frames and the edges
                on_grid = sum(round(w.start_seconds * 16000) % FRONT_END.hop_length == 0 for w in windows)
                new_frames = round(hop * 16000) // FRONT_END.hop_length + 2  # the hop's, and the two edge frames
                assert scorer.frames_computed == FRONT_END.num_frames + (on_grid - 1) * new_frames


@pytest.mark.parametrize("resampler", ["soxr_hq", "kaiser_best"])
def test_a_stream_at_another_rate_scores_as_the_file_read_with_the_front_ends_resampler(models, tmp_path, resampler):
    import dataclasses

    from keras_airn.data.audio import resample_stream
    from keras_airn.inference.streaming import StreamScorer

    front_end = dataclasses.replace(FRONT_END, resampler=resampler)
    classifier = WindowScorer(models["keras"], front_end)
    rng = np.random.default_rng(5)
    audio = rng.uniform(-0.4, 0.4, int(2.6 * 44100)).astype(np.float32)
    path = str(tmp_path / "44k.wav")
    soundfile.write(path, audio, 44100, subtype="FLOAT")
    expected = classifier.classify_file(path, hop_seconds=0.5)
    sizes = rng.integers(1, 9000, 100)  # odd sizes: blocks never fall on the rates' 441-sample period
    chunks = np.split(audio, np.cumsum(sizes)[np.cumsum(sizes) < len(audio)])
    scorer, windows = StreamScorer(classifier, 0.5), []
    for chunk in resample_stream(chunks, 44100, front_end.sample_rate, resampler):
        windows += scorer.push(chunk)
    windows += scorer.finish()
    assert [w.start_seconds for w in windows] == [w.start_seconds for w in expected]
    for ours, theirs in zip(windows, expected):
        np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-6)


def test_listen_reads_raw_pcm_on_stdin_and_prints_windows_and_events(models, tmp_path):
    from keras_airn.inference.streaming import EventTracker

    model = models["waveform"]
    shutil.copy(models["root"] / "labels.json", os.path.dirname(model))
    audio, rate = soundfile.read(models["audio"], dtype="float32")
    pcm = (np.clip(audio, -1, 1 - 2 ** -15) * 32768).astype("<i2")
    expected = WindowScorer(model, FRONT_END).classify_file(models["audio"], 0.5)
    # A threshold some windows' top scores are above and others below, away from every score (the
    # file is 16-bit FLAC, so the s16le stream holds its very samples: the same scores to float rounding).
    tops = np.sort([w.scores.max() for w in expected])
    gap = int(np.argmax(np.diff(tops)))
    threshold = float((tops[gap] + tops[gap + 1]) / 2)
    assert tops[gap + 1] - tops[gap] > 2e-5, tops
    command = [sys.executable, "-m", "edge.listen", f"--model={model}", "--stdin", "--hop_seconds=0.5", "--json",
               f"--threshold={threshold}", "--hysteresis=0", "--top_k=4"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(command + ["--sample_rate=16000", "--format=s16le"], input=pcm.tobytes(), cwd=ROOT,
                            capture_output=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    windows = [line for line in lines if "top" in line]
    events = [line for line in lines if "event" in line]
    # The file's windows and scores.
    labels = ["a", "b", "c", "d"]
    assert [(w["start"], w["end"]) for w in windows] == [
        (round(w.start_seconds, 4), round(w.end_seconds, 4)) for w in expected]
    for ours, theirs in zip(windows, expected):
        assert dict(ours["top"]) == pytest.approx(dict(zip(labels, theirs.scores.tolist())), abs=2e-6)
    # And the events an EventTracker finds in the file's windows.
    tracker = EventTracker(labels, threshold, 0.0)
    found = [event for window in expected for event in tracker.update(window)] + tracker.close()
    assert found and [(e["event"], e["label"], e["onset"]) for e in events] == [
        ("end" if e.offset is not None else "start", e.label, round(e.onset, 4)) for e in found]
    at_22k = subprocess.run(  # the same audio at another rate, as float: resampled on the way in
        [sys.executable, "-c", "import sys, numpy, soxr; x = numpy.frombuffer(sys.stdin.buffer.read(), '<i2') / 32768; "
         "sys.stdout.buffer.write(soxr.resample(x, 16000, 22050).astype('<f4').tobytes())"],
        input=pcm.tobytes(), capture_output=True, check=True).stdout
    resampled = subprocess.run(command + ["--sample_rate=22050", "--format=f32le"], input=at_22k, cwd=ROOT,
                               capture_output=True, timeout=300, env=env)
    assert resampled.returncode == 0, resampled.stderr.decode()[-2000:]
    windows_22k = [json.loads(line) for line in resampled.stdout.decode().splitlines() if '"top"' in line]
    assert [(w["start"], w["end"]) for w in windows_22k] == [(w["start"], w["end"]) for w in windows]
    no_microphone = subprocess.run(command[:4] + ["--device=no such device"], cwd=ROOT, capture_output=True,
                                   timeout=300, env=env, stdin=subprocess.DEVNULL)
    assert no_microphone.returncode == 1 and b"microphone" in no_microphone.stderr, no_microphone.stderr[-2000:]
    assert b"Traceback" not in no_microphone.stderr


def test_mediapipe_audio_stream_gives_the_streams_windows_at_a_hop_of_one_window(models, tmp_path):
    """MediaPipe's AUDIO_STREAM runs our waveform model on back-to-back windows of its input
    length, from the stream's start: the StreamScorer's windows with hop = the window."""
    import time

    from mediapipe.tasks.python import audio as mediapipe_audio
    from mediapipe.tasks.python.components.containers import audio_data
    from mediapipe.tasks.python.core import base_options

    from keras_airn.inference.runtime import softmax
    from keras_airn.inference.streaming import StreamScorer

    labels = ["a", "b", "c", "d"]
    report = export(models["keras"], str(tmp_path / "mediapipe"), ["fp32"], waveform=True, front_end=FRONT_END,
                    label_names=labels, num_eval=2)
    model = str(tmp_path / "mediapipe" / report["artifacts"]["fp32"]["file"])
    audio, _ = soundfile.read(models["audio"], dtype="float32")
    results = []
    options = mediapipe_audio.AudioClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=model), max_results=len(labels),
        running_mode=mediapipe_audio.RunningMode.AUDIO_STREAM,
        result_callback=lambda result, timestamp_ms: results.append(result))
    with mediapipe_audio.AudioClassifier.create_from_options(options) as classifier:
        for at in range(0, len(audio), 1600):  # 100 ms chunks, as a microphone delivers them
            classifier.classify_async(audio_data.AudioData.create_from_array(audio[at : at + 1600], 16000),
                                      at * 1000 // 16000)
        deadline = time.monotonic() + 30
        crop = FRONT_END.clip_size - 1
        while len(results) < len(audio) // crop and time.monotonic() < deadline:
            time.sleep(0.05)
    scorer = StreamScorer(WindowScorer(model, FRONT_END), hop_seconds=crop / 16000)
    windows = scorer.push(audio)
    assert len(windows) == len(audio) // crop == 2
    for window, result in zip(windows, results):  # the full windows (at close MediaPipe zero-pads the rest)
        assert result.timestamp_ms == int(window.start_seconds * 1000)
        logits = {c.category_name: c.score for c in result.classifications[0].categories}  # our model outputs logits
        theirs = softmax(np.array([logits[label] for label in labels]))
        np.testing.assert_allclose(theirs, window.scores, atol=1e-5)
