"""Which signatures an export holds, named as TF's ``build_all_signature_defs`` named them.

One signature per export output key, plus ``'<alternative>:<key>'`` per receiver alternative. In a
PREDICT export only serving methods (classify, regress, predict) are kept; the rest are excluded
and logged, as TF did. Torch has no string tensors, so classify and regress signatures take the
receiver tensors as they are (TF required exactly one serialized-string input).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from torch_estimator.contract.export_output import ExportOutput
from torch_estimator.contract.spec import DEFAULT_SERVING_KEY

__all__ = ["SERVING_METHODS", "SignaturePlan", "plan_signatures"]

logger = logging.getLogger("torch_estimator")

CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
SERVING_METHODS = frozenset({CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME, PREDICT_METHOD_NAME})


@dataclasses.dataclass(frozen=True)
class SignaturePlan:
    """One signature to export: its name, the output it returns and the receiver tensors it takes."""

    name: str
    output_key: Any
    method_name: str
    alternative: str | None
    """None: the receiver's ``receiver_tensors``; else the name of a receiver alternative."""


def plan_signatures(
    export_outputs: Any,
    alternatives: Mapping[str, Any] | None,
    serving_only: bool,
) -> list[SignaturePlan]:
    """The signatures of one mode, in TF's order: each output key, then each alternative's keys.

    Raises:
        ValueError: ``export_outputs`` is not a dict.

    >>> from torch_estimator.contract.export_output import PredictOutput
    >>> import torch
    >>> out = PredictOutput(torch.zeros(1))
    >>> [p.name for p in plan_signatures({"serving_default": out}, {"raw": {}}, True)]
    ['serving_default', 'raw:serving_default']
    """
    if not isinstance(export_outputs, dict):
        raise ValueError(f"export_outputs must be a dict and not {type(export_outputs)}.")
    receivers: list[str | None] = [None, *(alternatives or {})]
    included: list[SignaturePlan] = []
    excluded: dict[str, str] = {}
    for alternative in receivers:
        for key, output in export_outputs.items():
            key_name = f"{key or 'None'}"
            name = key_name if alternative is None else f"{alternative or 'None'}:{key_name}"
            method_name = output.method_name if isinstance(output, ExportOutput) else ""
            if serving_only and method_name not in SERVING_METHODS:
                excluded[name] = f"method {method_name!r} cannot be served"
                continue
            included.append(SignaturePlan(name, key, method_name, alternative))
    _log_report(included, excluded)
    return included


def _log_report(included: list[SignaturePlan], excluded: Mapping[str, str]) -> None:
    by_method: dict[str, list[str]] = {}
    for plan in included:
        by_method.setdefault(plan.method_name, []).append(plan.name)
    for method_name, names in by_method.items():
        logger.info("Signatures INCLUDED in export for %s: %s", method_name, names)
    if excluded:
        logger.info("Signatures EXCLUDED from export because they cannot be served: %s", dict(excluded))
    if not included:
        logger.warning("Export includes no signatures!")
    elif not any(plan.name == DEFAULT_SERVING_KEY for plan in included):
        logger.warning("Export includes no default signature!")
