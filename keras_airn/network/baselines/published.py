"""Published figures of the paper's Table V and of the peer networks, with their sources.

Table V of Lau, Rehman and Po (2024): 309 classes, 512 x 128 log-mel input; "GFLOPs" are thop
multiply-accumulate counts; phone latency is ONNX Runtime Mobile, fp32, batch 1, on a Snapdragon
720G. The peers' figures are at their own published configurations (`count_config`). Accuracy is
what the cited source reports, on the dataset it names; nothing here was measured by this project.
"""

from __future__ import annotations

import dataclasses

from keras_airn.network.model import VGGSOUND_CLASSES

VGGSOUND_CONFIG = {"num_classes": VGGSOUND_CLASSES, "num_frames": 512, "num_mel_bins": 128}


@dataclasses.dataclass(frozen=True)
class Published:
    """One network's published figures.

    Attributes:
        params_m: parameters, millions.
        gmacs: multiply-accumulates per example, billions, at `count_config`.
        count_config: `create_baseline` arguments the counts hold for.
        size_mb, phone_ms: Table V's model size and phone latency (None for peers).
        accuracy: the published accuracy, with its dataset and source.
    """

    params_m: float
    gmacs: float
    count_config: dict
    size_mb: float | None = None
    phone_ms: float | None = None
    accuracy: str = "not published for this configuration"


TABLE_V = {
    "bcresnet8": Published(0.33, 1.17, VGGSOUND_CONFIG, 1.6, 227,
                           "98.7 % top-1, Speech Commands v2 (12 classes) (Kim et al., Interspeech 2021)"),
    "bn_inception_v1": Published(6.35, 1.86, VGGSOUND_CONFIG, 25, 114),
    "airn_b0": Published(2.11, 0.46, VGGSOUND_CONFIG, 9, 59),
    "slowfast": Published(26.68, 5.55, VGGSOUND_CONFIG, 106, 317,
                          "52.5 % top-1, VGG-Sound (Kazakos et al., ICASSP 2021)"),
    "replknet31t": Published(29.32, 7.79, VGGSOUND_CONFIG, 117, 2136),
    "resnet50": Published(24.13, 5.26, VGGSOUND_CONFIG, 96, 310),
    "inceptionnext_tiny": Published(24.20, 5.46, VGGSOUND_CONFIG, 97, 357),
    "airn_b1_2d": Published(13.19, 3.27, VGGSOUND_CONFIG, 53, 615),
    "airn_b1": Published(11.69, 2.55, VGGSOUND_CONFIG, 47, 232),
}

PEERS = {
    "efficientat_mn10": Published(4.88, 0.54, {"num_classes": 527, "num_frames": 1000, "num_mel_bins": 128},
                                  accuracy="47.1 mAP, AudioSet (Schmid et al., ICASSP 2023; fschmid56/EfficientAT)"),
    "yamnet": Published(3.7, 0.069, {"num_classes": 521, "num_frames": 96, "num_mel_bins": 64},
                        accuracy="0.306 balanced mAP, AudioSet eval (tensorflow/models research/audioset/yamnet "
                                 "README)"),
}

PUBLISHED = {**TABLE_V, **PEERS}
