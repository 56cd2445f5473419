"""Exporters: what train_and_evaluate exports after each evaluation, under ``<model_dir>/export/<name>/``.

* ``LatestExporter`` exports every evaluated checkpoint and keeps the newest ``exports_to_keep``.
* ``BestExporter`` exports when ``compare_fn`` says the evaluation beats the best one so far; the
  best so far is read back from the eval event files, so a restarted job does not export a worse
  model.
* ``FinalExporter`` exports once, for the evaluation of the final checkpoint.

Garbage collection keeps the ``exports_to_keep`` newest exports (``te.saved_model.list_versions``:
numeric directories holding a finished export). A directory
is first renamed out of the version namespace (``temp-gc-...``) and then removed, so a server never
loads a half-deleted export.
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from torch_estimator.contract.fn_args import fn_args
from torch_estimator.saved_model.loader import list_versions
from torch_estimator.summary.reader import read_scalar_summaries

__all__ = [
    "BestExporter",
    "Exporter",
    "ExportingEstimator",
    "FinalExporter",
    "LatestExporter",
    "garbage_collect_exports",
    "loss_smaller",
]

logger = logging.getLogger("torch_estimator")


class ExportingEstimator(Protocol):
    """What an exporter needs of an Estimator."""

    @property
    def model_dir(self) -> str: ...

    def export_saved_model(
        self,
        export_dir_base: str,
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
    ) -> str: ...


@runtime_checkable
class Exporter(Protocol):
    """Exports the model after an evaluation; ``EvalSpec(exporters=...)`` takes any number of them.

    ``name`` names the directory ``<model_dir>/export/<name>``; ``export`` returns the export path,
    or None when it decided not to export. Subclassing is optional: any object with ``name`` and
    ``export`` is an Exporter.

    >>> class Announce:
    ...     name = "announce"
    ...     def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
    ...         return None
    >>> isinstance(Announce(), Exporter)
    True
    """

    @property
    def name(self) -> str:
        """The exporter's directory name under ``<model_dir>/export``."""
        ...

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str,
        eval_result: Mapping[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        """Exports ``checkpoint_path`` below ``export_path``; returns the export directory or None."""
        ...


def loss_smaller(best_eval_result: Mapping[str, Any], current_eval_result: Mapping[str, Any]) -> bool:
    """BestExporter's default ``compare_fn``: True when the current ``'loss'`` is strictly smaller.

    Raises:
        ValueError: either result is empty or has no ``'loss'``.

    >>> loss_smaller({"loss": 0.5}, {"loss": 0.25}), loss_smaller({"loss": 0.5}, {"loss": 0.5})
    (True, False)
    """
    for name, result in (
        ("best_eval_result", best_eval_result),
        ("current_eval_result", current_eval_result),
    ):
        if not result or "loss" not in result:
            raise ValueError(
                f"{name} cannot be empty or no loss is found in it. Received: {result!r}. Evaluate with a "
                "model_fn that returns a loss, or pass a compare_fn that uses another metric."
            )
    return bool(best_eval_result["loss"] > current_eval_result["loss"])


def garbage_collect_exports(export_path: str, exports_to_keep: int | None) -> list[str]:
    """Removes all but the ``exports_to_keep`` newest exports under ``export_path``; returns the removed.

    None keeps everything. Other entries (temp directories, files, directories with no export) are
    never touched.

    >>> garbage_collect_exports("/nonexistent", 5)
    []
    """
    if exports_to_keep is None:
        return []
    versions = list_versions(export_path)
    doomed = versions[: max(len(versions) - exports_to_keep, 0)]
    removed = []
    for version in doomed:
        path = os.path.join(export_path, str(version))
        # Out of the version namespace first: a server polling export_path never sees a partial export.
        trash = os.path.join(export_path, f"temp-gc-{version}-{secrets.token_hex(4)}")
        try:
            os.rename(path, trash)
        except OSError as err:
            logger.warning("Can not delete %s recursively: %s", path, err)
            continue
        shutil.rmtree(trash, ignore_errors=True)
        removed.append(path)
    return removed


def _check_exports_to_keep(exports_to_keep: int | None) -> None:
    if exports_to_keep is not None and exports_to_keep <= 0:
        raise ValueError(
            f"`exports_to_keep`, if provided, must be a positive number. Got {exports_to_keep}. Pass None to "
            "keep every export."
        )


class SavedModelExport:
    """One ``estimator.export_saved_model`` call with an exporter's fixed arguments."""

    def __init__(
        self,
        serving_input_receiver_fn: Callable[[], Any] | None,
        assets_extra: Mapping[str, Any] | None,
        as_text: bool,
    ) -> None:
        self.serving_input_receiver_fn = serving_input_receiver_fn
        self.assets_extra = assets_extra
        self.as_text = as_text

    def __call__(self, estimator: ExportingEstimator, export_path: str, checkpoint_path: str) -> str:
        return estimator.export_saved_model(
            export_path,
            self.serving_input_receiver_fn,  # type: ignore[arg-type]
            assets_extra=self.assets_extra,
            as_text=self.as_text,
            checkpoint_path=checkpoint_path,
        )


class LatestExporter:
    """Exports after every evaluation, then keeps only the newest ``exports_to_keep`` exports.

    Raises:
        ValueError: ``exports_to_keep`` is not None and not positive.

    >>> import torch_estimator as te
    >>> exporter = te.LatestExporter("latest", serving_input_receiver_fn=lambda: None, exports_to_keep=3)
    >>> exporter.name, exporter.exports_to_keep
    ('latest', 3)
    """

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ) -> None:
        _check_exports_to_keep(exports_to_keep)
        self._name = name
        self.exports_to_keep = exports_to_keep
        self.saved_model_export = SavedModelExport(serving_input_receiver_fn, assets_extra, as_text)

    @property
    def name(self) -> str:
        """The directory name under ``<model_dir>/export``."""
        return self._name

    def export(
        self,
        estimator: ExportingEstimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: Mapping[str, Any],
        is_the_final_export: bool,
    ) -> str:
        """Exports ``checkpoint_path`` to ``export_path/<timestamp>``, then garbage-collects."""
        del eval_result, is_the_final_export  # Every evaluation is exported.
        path = self.saved_model_export(estimator, export_path, checkpoint_path)
        garbage_collect_exports(export_path, self.exports_to_keep)
        return path


class FinalExporter:
    """Exports only the evaluation of the final checkpoint (``is_the_final_export``); else returns None.

    >>> import torch_estimator as te
    >>> te.FinalExporter("final", lambda: None).export(None, "/unused", "/unused", {}, False) is None
    True
    """

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
    ) -> None:
        self._name = name
        self.saved_model_export = SavedModelExport(serving_input_receiver_fn, assets_extra, as_text)

    @property
    def name(self) -> str:
        """The directory name under ``<model_dir>/export``."""
        return self._name

    def export(
        self,
        estimator: ExportingEstimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: Mapping[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        """Exports when ``is_the_final_export``; otherwise does nothing and returns None."""
        if not is_the_final_export:
            return None
        logger.info("Performing the final export in the end of training.")
        return self.saved_model_export(estimator, export_path, checkpoint_path)


class BestExporter:
    """Exports when an evaluation beats the best one so far (``compare_fn(best, current)`` is True).

    The best result is seeded, the first time an Estimator's model_dir is seen, from the scalar
    summaries in the event files matching ``<model_dir>/<event_file_pattern>`` (one result per
    evaluated step, the step being evaluated now excluded). The first evaluation is exported when
    ``export_path`` holds no export yet; after a restart, existing exports and the seeded best keep
    a worse model from being exported. ``event_file_pattern=None`` disables the seeding.

    Raises:
        ValueError: ``compare_fn`` is None or does not take exactly ``best_eval_result`` and
            ``current_eval_result``; ``exports_to_keep`` is not None and not positive.

    >>> import torch_estimator as te
    >>> te.BestExporter(compare_fn=lambda best_eval_result, current_eval_result: True).name
    'best_exporter'
    """

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        event_file_pattern: str | None = "eval/*.tfevents.*",
        compare_fn: Callable[..., bool] = loss_smaller,
        assets_extra: Mapping[str, Any] | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ) -> None:
        if compare_fn is None:
            raise ValueError(
                "`compare_fn` must not be None. Pass a function of (best_eval_result, current_eval_result) "
                'returning True when current is better (the default compares "loss").'
            )
        _verify_compare_fn_args(compare_fn)
        _check_exports_to_keep(exports_to_keep)
        self._name = name
        self.compare_fn = compare_fn
        self.event_file_pattern = event_file_pattern
        self.exports_to_keep = exports_to_keep
        self.saved_model_export = SavedModelExport(serving_input_receiver_fn, assets_extra, as_text)
        self.best_eval_result: Mapping[str, Any] | None = None
        self._model_dir: str | None = None
        self._has_exported = False

    @property
    def name(self) -> str:
        """The directory name under ``<model_dir>/export``."""
        return self._name

    def export(
        self,
        estimator: ExportingEstimator,
        export_path: str,
        checkpoint_path: str,
        eval_result: Mapping[str, Any],
        is_the_final_export: bool,
    ) -> str | None:
        """Exports if ``eval_result`` is the best so far (see the class doc); returns the path or None."""
        del is_the_final_export
        if self._model_dir != estimator.model_dir and self.event_file_pattern:
            logger.info("Loading best metric from event files.")
            self._model_dir = estimator.model_dir
            pattern = os.path.join(glob.escape(self._model_dir), self.event_file_pattern)
            self.best_eval_result = self.best_of_event_files(pattern, eval_result.get("global_step"))
            self._has_exported = bool(list_versions(export_path))
        if (
            not self._has_exported
            or self.best_eval_result is None
            or self.compare_fn(best_eval_result=self.best_eval_result, current_eval_result=eval_result)
        ):
            logger.info("Performing best model export.")
            self.best_eval_result = eval_result
            path = self.saved_model_export(estimator, export_path, checkpoint_path)
            garbage_collect_exports(export_path, self.exports_to_keep)
            self._has_exported = True
            return path
        return None

    def best_of_event_files(self, file_pattern: str, skip_step: Any = None) -> dict[str, float] | None:
        """The best per-step result in the event files matching ``file_pattern`` (``skip_step`` left out)."""
        best = None
        for step, result in read_scalar_summaries(sorted(glob.glob(file_pattern))).items():
            if skip_step is not None and step == int(skip_step):
                continue  # The evaluation being exported now is not a rival of itself.
            if best is None or self.compare_fn(best_eval_result=best, current_eval_result=result):
                best = result
        return best


def _verify_compare_fn_args(compare_fn: Callable[..., Any]) -> None:
    args = set(fn_args(compare_fn))
    for required in ("best_eval_result", "current_eval_result"):
        if required not in args:
            raise ValueError(
                f"compare_fn ({compare_fn}) must include {required} argument. Received arguments: "
                f"{sorted(args)}. Define it as compare_fn(best_eval_result, current_eval_result)."
            )
    unexpected = sorted(args - {"best_eval_result", "current_eval_result"})
    if unexpected:
        raise ValueError(
            f"compare_fn ({compare_fn}) has following not expected args: {unexpected}. Take only "
            "best_eval_result and current_eval_result."
        )
