"""Teach a trainable model its user's clips, through its own signatures, as an app on the device does.

A thin shell over `keras_airn.inference.personalise`: each clip's windows go through the model's `infer`
for their embeddings, then `--epochs` shuffled passes of `--batch_size` through `train`, the model's
replay set mixed in for the classes the clips leave out. A label the model does not know takes a
free slot (a user's own word or sound). The head is written to
--out atomically, bound to the model; `edge.classify --head` and `edge.listen --head` use it.

Usage:
  python -m edge.personalise --model export/airn_b0_deploy_waveform_int8_trainable.tflite \
      --enroll my_clips --out head.npz            # my_clips/<label>/*.wav, or a path,label CSV
  python -m edge.personalise --model M.tflite --head head.npz --enroll more_clips --out head.npz
  python -m edge.personalise --model M.tflite --head head.npz --remove knock --out head.npz
  python -m edge.classify --model M.tflite --head head.npz --audio clip.wav
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn import cli  # noqa: E402
from keras_airn.inference.personalise import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS  # noqa: E402

MODEL = flags.DEFINE_string("model", None, "A trainable .tflite (convert.tflite --trainable).")
ENROLL = flags.DEFINE_string("enroll", None, "Clips to learn: a folder <label>/**/*.wav|flac|ogg|mp3 or a "
                             "path,label[,split] CSV (every row).")
HEAD = flags.DEFINE_string("head", None, "Start from this head file (default: the head the model shipped with).")
REMOVE = flags.DEFINE_list("remove", [], "Labels to remove before enrolling (their slots become free).")
OUT = flags.DEFINE_string("out", None, "The head file to write (.npz).")
EPOCHS = flags.DEFINE_integer("epochs", DEFAULT_EPOCHS, "Passes over the clips' windows.", lower_bound=1)
BATCH_SIZE = flags.DEFINE_integer("batch_size", DEFAULT_BATCH_SIZE, "Windows per train call.", lower_bound=1)
SEED = flags.DEFINE_integer("seed", 0, "Seed of the shuffle.")
REPLAY = flags.DEFINE_bool("replay", True, "Mix in the model's replay set (a few shipped clips' embeddings per "
                           "class) for the classes in use that the clips leave out, so that they are kept.")


def main(argv):
    del argv
    from keras_airn.inference.personalise import TrainableModel, read_enrolment

    if not MODEL.value or not OUT.value:
        raise app.UsageError("--model and --out are required.")
    if not ENROLL.value and not REMOVE.value:
        raise app.UsageError("Nothing to do: give --enroll clips and/or --remove labels.")
    if not OUT.value.endswith(".npz") or os.path.isdir(OUT.value):
        raise app.UsageError(f"--out must name a .npz file, got {OUT.value!r}"
                             f"{' (a folder)' if os.path.isdir(OUT.value) else ''}.")
    model = TrainableModel(MODEL.value, HEAD.value)
    examples = read_enrolment(ENROLL.value) if ENROLL.value else []
    for label in REMOVE.value:
        model.remove(label)
    if examples:
        started = time.monotonic()
        losses = model.enroll(examples, EPOCHS.value, BATCH_SIZE.value, SEED.value, REPLAY.value)
        print(f"enrolled {len(examples)} clips in {time.monotonic() - started:.2f} s: loss {losses[0]:.3f} -> "
              f"{losses[-1]:.3f}")
    model.head().save(OUT.value)
    print(f"classes: {', '.join(model.labels[i] for i in model.in_use)}")
    print(f"head: {OUT.value}")


if __name__ == "__main__":
    cli.run(main)
