"""Estimator.export_saved_model and experimental_export_all_saved_models behind the façade.

Order, as tf.estimator (SEMANTICS (l)):

    checkpoint = checkpoint_path or the latest one, else the warm-start checkpoint (warm_start_from)
                                                     (none -> "Couldn't find trained model at ...")
    modes = TRAIN, EVAL, PREDICT present in the map  (none -> "No valid modes for exporting found")
    export_dir = <export_dir_base>/<timestamp>; files go to a temp dir beside it
    for each mode: fresh Graph, receiver_fn(), model_fn, restore, one program per signature
    write programs, variables, assets, assets.extra, saved_model.json; rename temp -> export_dir

TRAIN cannot be exported: a training step (backward pass and optimizer update) is not an inference
program torch.export can save and a server can run; export EVAL for loss, predictions and metrics.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torch_estimator.checkpoint import latest_checkpoint
from torch_estimator.checkpoint.warm_start import warm_start_checkpoint
from torch_estimator.contract.mode_keys import ModeKeys
from torch_estimator.contract.spec import DEFAULT_SERVING_KEY
from torch_estimator.engine.setup import EstimatorSetup
from torch_estimator.export.mode_export import ModeExport, export_mode
from torch_estimator.export.writer import (
    export_directory,
    write_assets,
    write_assets_extra,
    write_metadata,
    write_programs,
    write_variables,
)
from torch_estimator.saved_model.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PROGRAMS_DIRECTORY,
    program_filename,
)

__all__ = ["export_all_saved_models"]

_MODE_ORDER = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)


def export_all_saved_models(
    setup: EstimatorSetup,
    export_dir_base: str | os.PathLike[str],
    input_receiver_fn_map: Mapping[str, Callable[[], Any]],
    assets_extra: Mapping[str, Any] | None = None,
    as_text: bool = False,
    checkpoint_path: str | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Exports every mode in ``input_receiver_fn_map``; returns the export directory.

    ``as_text`` is accepted for TF compatibility: the signature file is JSON text either way.

    Raises:
        ValueError: no checkpoint, or no exportable mode in the map.
        NotImplementedError: the map asks for TRAIN.
    """
    del as_text  # The signature file is always JSON text.
    checkpoint_path = checkpoint_path or latest_checkpoint(setup.model_dir)
    warm_start = None
    if not checkpoint_path and setup.warm_start is not None:
        # TF restores the warm-start checkpoint directly; an export's variables are warm started.
        checkpoint_path = warm_start_checkpoint(setup.warm_start)
        warm_start = setup.warm_start if checkpoint_path is None else None
    if not checkpoint_path and warm_start is None:
        raise ValueError(
            f"Couldn't find trained model at {setup.model_dir}. Train the Estimator first, or pass "
            "checkpoint_path=."
        )
    modes = [mode for mode in _MODE_ORDER if mode in input_receiver_fn_map]
    if not modes:
        raise ValueError(
            f"No valid modes for exporting found. Got {list(input_receiver_fn_map)}. Use keys "
            f"{list(_MODE_ORDER)} (te.ModeKeys)."
        )
    if ModeKeys.TRAIN in modes:
        raise NotImplementedError(
            "Exporting mode 'train' is not supported: a training step (backward pass and optimizer update) "
            "cannot be an inference program that torch.export saves and a server runs. Export "
            "ModeKeys.EVAL for loss, predictions and metrics, and keep training from the checkpoints."
        )
    # Exports run on the CPU in full precision, so the programs load anywhere.
    cpu_setup = dataclasses.replace(
        setup, config=setup.config.replace(device="cpu", precision="32"), warm_start=warm_start
    )
    with export_directory(os.fspath(export_dir_base), clock, sleep) as (temp_dir, final):
        exports = [
            export_mode(cpu_setup, mode, input_receiver_fn_map[mode], checkpoint_path) for mode in modes
        ]
        _write(temp_dir, exports, assets_extra)
    return final[0]


def _write(directory: str, exports: list[ModeExport], assets_extra: Mapping[str, Any] | None) -> None:
    signatures: dict[str, Any] = {}
    programs: dict[str, torch.export.ExportedProgram] = {}
    for export in exports:
        for signature in export.signatures:
            if signature.name in signatures:
                raise ValueError(
                    f"Two exported modes both have a signature named {signature.name!r}. Rename the "
                    "export_outputs key."
                )
            filename = _unique_filename(program_filename(signature.name), programs)
            programs[filename] = signature.program
            signatures[signature.name] = {
                "method_name": signature.method_name,
                "mode": signature.mode,
                "program": f"{PROGRAMS_DIRECTORY}/{filename}",
                "inputs": signature.inputs,
                "outputs": signature.outputs,
                "class_names": signature.class_names,
                "feature_spec": signature.feature_spec,
                "output_vocabularies": signature.output_vocabularies,
            }
    main = next((export for export in exports if export.mode == ModeKeys.PREDICT), exports[0])
    write_programs(directory, programs)
    write_variables(directory, main.variables, main.global_step)
    write_assets(directory, list(dict.fromkeys(path for export in exports for path in export.assets)))
    write_assets_extra(directory, assets_extra)
    write_metadata(
        directory,
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "torch_version": torch.__version__,
            "global_step": main.global_step,
            "mode": main.mode,
            "default_signature": DEFAULT_SERVING_KEY if DEFAULT_SERVING_KEY in signatures else None,
            "signatures": signatures,
        },
    )


def _unique_filename(filename: str, taken: Mapping[str, Any]) -> str:
    stem, extension = os.path.splitext(filename)
    candidate, suffix = filename, 1
    while candidate in taken:
        candidate = f"{stem}_{suffix}{extension}"
        suffix += 1
    return candidate
