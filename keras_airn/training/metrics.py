"""VGG-Sound metrics: top-1, top-5, mAP, AUC, d-prime (docs/reference.md, section 5), via scikit-learn."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics


def average_views(probabilities: np.ndarray, example_index: np.ndarray, labels: np.ndarray):
    """Averages per-crop softmax scores over the crops of each example.

    Args:
        probabilities: (crops, classes).
        example_index: (crops,) example of each crop.
        labels: (crops,) label of each crop.

    Returns:
        (probabilities (examples, classes), labels (examples,)) ordered by example index.
    """
    order = np.unique(example_index)
    lookup = np.searchsorted(order, example_index)
    sums = np.zeros((order.size, probabilities.shape[1]))
    np.add.at(sums, lookup, probabilities)
    counts = np.bincount(lookup, minlength=order.size)[:, None]
    per_example_labels = np.zeros(order.size, np.int64)
    per_example_labels[lookup] = labels
    return sums / counts, per_example_labels


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cross-entropy, top-1, top-5, mAP, AUC and d-prime of per-example class scores.

    mAP and AUC are means over the classes that have both positives and negatives among the
    labels (others are undefined); `classes_scored` says how many that was.

    Args:
        probabilities: (examples, classes) scores.
        labels: (examples,) integer labels.

    Returns:
        {"loss", "top1", "top5", "mAP", "AUC", "d_prime", "classes_scored", "examples"}; "loss" is
        the mean of -log(score of the true class), the score at least 1e-7 as Keras clips it.
    """
    num_classes = probabilities.shape[1]
    classes = np.arange(num_classes)
    one_hot = labels[:, None] == classes[None, :]
    scored = [c for c in classes if 0 < one_hot[:, c].sum() < len(labels)]
    true_scores = probabilities[np.arange(len(labels)), labels]
    result = {
        "loss": float(np.mean(-np.log(np.clip(true_scores, 1e-7, 1.0)))),
        "top1": float(metrics.accuracy_score(labels, probabilities.argmax(axis=1))),
        # With five classes or fewer every label is in the top 5 (sklearn refuses k >= classes
        # for two classes).
        "top5": float(metrics.top_k_accuracy_score(labels, probabilities, k=5, labels=classes))
        if num_classes > 5 else 1.0,
        "examples": int(len(labels)),
        "classes_scored": len(scored),
    }
    if scored:
        result["mAP"] = float(np.mean([metrics.average_precision_score(one_hot[:, c], probabilities[:, c]) for c in scored]))
        auc = float(np.mean([metrics.roc_auc_score(one_hot[:, c], probabilities[:, c]) for c in scored]))
        result["AUC"] = auc
        result["d_prime"] = float(np.sqrt(2.0) * stats.norm.ppf(min(auc, 1 - 1e-12)))
    return result
