"""The names heads give their predictions and eval metrics (TF's ``PredictionKeys`` / ``MetricKeys``)."""

from __future__ import annotations

__all__ = ["MetricKeys", "PredictionKeys", "summary_key"]


class PredictionKeys:
    """Keys of the predictions dict a head returns (TF's ``canned.prediction_keys.PredictionKeys``).

    ``classes`` and ``all_classes`` hold int64 class ids: torch has no string tensors, so the class
    names (``label_vocabulary``, else ``str(id)``) are applied at the edge: ``Estimator.predict()``
    yields them as bytes strings (as TF did), and the export's signature file and the REST server name
    them.

    >>> PredictionKeys.CLASS_IDS
    'class_ids'
    """

    ALL_CLASSES = "all_classes"
    ALL_CLASS_IDS = "all_class_ids"
    CLASSES = "classes"
    CLASS_IDS = "class_ids"
    LOGISTIC = "logistic"
    LOGITS = "logits"
    PREDICTIONS = "predictions"
    PROBABILITIES = "probabilities"


class MetricKeys:
    """Keys of the default eval metrics (TF's ``canned.metric_keys.MetricKeys``).

    >>> MetricKeys.ACCURACY_AT_THRESHOLD % 0.5
    'accuracy/positive_threshold_0.5'
    """

    LOSS = "loss"
    LOSS_MEAN = "average_loss"
    LOSS_REGULARIZATION = "regularization_loss"
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    ACCURACY_BASELINE = "accuracy_baseline"
    AUC = "auc"
    AUC_PR = "auc_precision_recall"
    LABEL_MEAN = "label/mean"
    PREDICTION_MEAN = "prediction/mean"
    ACCURACY_AT_THRESHOLD = "accuracy/positive_threshold_%g"
    PRECISION_AT_THRESHOLD = "precision/positive_threshold_%g"
    RECALL_AT_THRESHOLD = "recall/positive_threshold_%g"
    PROBABILITY_MEAN_AT_CLASS = "probability_mean/class%d"
    AUC_AT_CLASS = "auc/class%d"
    AUC_PR_AT_CLASS = "auc_precision_recall/class%d"
    PROBABILITY_MEAN_AT_NAME = "probability_mean/%s"
    AUC_AT_NAME = "auc/%s"
    AUC_PR_AT_NAME = "auc_precision_recall/%s"


def summary_key(key: str, head_name: str | None) -> str:
    """``key`` suffixed with ``/<head name>`` when the head has a name, as TF's heads name metrics.

    >>> summary_key("auc", "ctr"), summary_key("auc", None)
    ('auc/ctr', 'auc')
    """
    return f"{key}/{head_name}" if head_name else key
