"""Errors raised by the standard hooks."""

from __future__ import annotations

__all__ = ["NanLossDuringTrainingError"]


class NanLossDuringTrainingError(RuntimeError):
    """Raised by ``NanTensorHook`` when the loss is NaN (TF's exact message).

    >>> str(NanLossDuringTrainingError())
    'NaN loss during training.'
    """

    def __str__(self) -> str:
        return "NaN loss during training."
