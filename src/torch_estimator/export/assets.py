"""Asset files an export carries in ``assets/`` (TF's ASSET_FILEPATHS collection: vocabularies, ...)."""

from __future__ import annotations

import os

from torch_estimator.graph.graph import Graph, require_graph

__all__ = ["ASSETS_OBJECT_NAME", "add_asset", "registered_assets"]

ASSETS_OBJECT_NAME = "export:assets"
"""Key of the registered asset paths in ``Graph.objects``."""


def add_asset(path: str | os.PathLike[str]) -> str:
    """Registers file ``path`` to be copied into the export's ``assets/``; returns the path.

    Call it inside model_fn or a serving_input_receiver_fn (where a Graph is current); outside an
    export it only records the path.

    >>> import torch, torch_estimator as te
    >>> def model_fn(features, mode):
    ...     add_asset("vocab.txt")
    ...     return te.EstimatorSpec(mode, predictions=features)
    >>> graph = te.Graph(model_fn)
    >>> _ = graph(torch.zeros(1), None, te.ModeKeys.PREDICT)
    >>> registered_assets(graph)
    ['vocab.txt']
    """
    path = os.fspath(path)
    assets = require_graph("te.export.add_asset").get_object(ASSETS_OBJECT_NAME, list)
    if path not in assets:
        assets.append(path)
    return path


def registered_assets(graph: Graph) -> list[str]:
    """The asset paths registered in ``graph``, in registration order."""
    return list(graph.objects.get(ASSETS_OBJECT_NAME, ()))
