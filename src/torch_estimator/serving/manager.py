"""The served models: numeric version directories found by polling, loaded and unloaded by policy.

Each poll lists ``<base_path>/<version>`` directories, loads the versions the policy wants that are
not loaded yet (retrying a failed load on later polls, ``max_num_load_retries`` times), then unloads
the versions no longer wanted -- after a wanted one is available, so a model is never left without a
version while its successor loads (TF Serving's availability-preserving policy).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from torch_estimator import saved_model
from torch_estimator.serving.config import ModelConfig
from torch_estimator.serving.errors import NotFoundError, UnavailableError

__all__ = ["ModelManager", "ServedVersion", "VersionStatus"]

logger = logging.getLogger("torch_estimator")


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One entry of TF Serving's ``model_version_status``.

    >>> VersionStatus(3, "AVAILABLE").to_json()
    {'version': '3', 'state': 'AVAILABLE', 'status': {'error_code': 'OK', 'error_message': ''}}
    """

    version: int
    state: str
    """``START``, ``LOADING``, ``AVAILABLE``, ``UNLOADING`` or ``END`` (unloaded, or failed to load)."""
    error_code: str = "OK"
    error_message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": str(self.version),
            "state": self.state,
            "status": {"error_code": self.error_code, "error_message": self.error_message},
        }


class ServedVersion:
    """A loaded version of a model and the resources made for it (batchers, timers: objects with a
    ``close()``), closed on unload."""

    def __init__(self, name: str, version: int, model: Any) -> None:
        self.name = name
        self.version = version
        self.model = model
        self._resources: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """The resource stored under ``key``, made by ``factory`` on first use.

        Raises:
            UnavailableError: the version was unloaded after this request found it (retry).
        """
        with self._lock:
            if self._closed:
                raise UnavailableError(
                    f"Servable {{name: {self.name} version: {self.version}}} was unloaded while the request "
                    "was being read; retry it."
                )
            if key not in self._resources:
                self._resources[key] = factory()
            return self._resources[key]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            resources, self._resources = list(self._resources.values()), {}
        for resource in resources:
            resource.close()


@dataclasses.dataclass
class _Model:
    config: ModelConfig
    loaded: dict[int, ServedVersion] = dataclasses.field(default_factory=dict)
    statuses: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    failures: dict[int, int] = dataclasses.field(default_factory=dict)
    warned_empty: bool = False


class ModelManager:
    """Loads, serves and unloads the versions of the configured models.

    >>> manager = ModelManager([])
    >>> manager.start(poll_wait_seconds=0)
    >>> manager.model_names()
    []
    >>> manager.stop()
    """

    def __init__(
        self,
        configs: Sequence[ModelConfig],
        *,
        loader: Callable[[str], Any] | None = None,
        list_versions: Callable[[str], list[int]] | None = None,
        max_num_load_retries: int = 5,
    ) -> None:
        self._models = {config.name: _Model(config) for config in configs}
        self._loader = loader or saved_model.load
        self._list_versions = list_versions or saved_model.list_versions
        self._max_num_load_retries = max_num_load_retries
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def start(self, poll_wait_seconds: float = 1.0) -> None:
        """Polls once now (so models are loaded before the server answers), then every
        ``poll_wait_seconds`` in a background thread (<= 0: never again, as in TF Serving)."""
        self.poll()
        if poll_wait_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll_forever, args=(poll_wait_seconds,), name="te-serving-poll", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stops polling and unloads every version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._lock:
            served = [version for model in self._models.values() for version in model.loaded.values()]
            for model in self._models.values():
                model.loaded.clear()
        for version in served:
            version.close()

    def _poll_forever(self, wait_seconds: float) -> None:
        while not self._stop.wait(wait_seconds):
            try:
                self.poll()
            except Exception:  # a poll must never kill the poller; the next one retries
                logger.exception("Model version poll failed")

    def poll(self) -> None:
        """One pass over every model: load newly wanted versions, unload unwanted ones."""
        with self._poll_lock:
            for model in self._models.values():
                self._poll_model(model)

    def _poll_model(self, model: _Model) -> None:
        config = model.config
        try:
            on_disk = self._list_versions(config.base_path) if os.path.isdir(config.base_path) else []
        except OSError as err:
            logger.warning(
                "Could not list versions of model %s under %s: %s", config.name, config.base_path, err
            )
            return
        wanted = config.version_policy.select(on_disk)
        if not wanted and not model.warned_empty:
            logger.warning(
                "No versions of servable %s found under base path %s", config.name, config.base_path
            )
        model.warned_empty = not wanted
        for version in wanted:
            if version not in model.loaded and model.failures.get(version, 0) <= self._max_num_load_retries:
                self._load(model, version)
        with self._lock:
            available = any(version in model.loaded for version in wanted)
            gone = [v for v in model.loaded if v not in wanted] if available or not wanted else []
            unloading = [model.loaded.pop(version) for version in gone]
            for version in gone:
                model.statuses[version] = VersionStatus(version, "UNLOADING")
        for served in unloading:
            served.close()
            with self._lock:
                model.statuses[served.version] = VersionStatus(served.version, "END")
            logger.info("Unloaded servable version {name: %s version: %d}", config.name, served.version)

    def _load(self, model: _Model, version: int) -> None:
        name = model.config.name
        path = os.path.join(model.config.base_path, str(version))
        with self._lock:
            model.statuses[version] = VersionStatus(version, "LOADING")
        try:
            loaded = self._loader(path)
        except Exception as err:  # a bad version must not stop the others from serving
            failures = model.failures[version] = model.failures.get(version, 0) + 1
            logger.error(
                "Loading servable {name: %s version: %d} failed (attempt %d): %s",
                name,
                version,
                failures,
                err,
            )
            with self._lock:
                model.statuses[version] = VersionStatus(
                    version, "END", "UNKNOWN", f"{type(err).__name__}: {err}"
                )
            return
        with self._lock:
            model.loaded[version] = ServedVersion(name, version, loaded)
            model.statuses[version] = VersionStatus(version, "AVAILABLE")
        logger.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _model(self, name: str, message: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise NotFoundError(message)
        return model

    def _labelled(self, model: _Model, label: str) -> int:
        if label not in model.config.version_labels:
            raise NotFoundError(f"Unrecognized servable version label: {label}")
        return model.config.version_labels[label]

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        """The statuses of a model's versions, newest first, or of one version (by number or label).

        Raises:
            NotFoundError: unknown model, version or label.
        """
        with self._lock:
            model = self._model(name, f"Could not find any versions of model {name}")
            if label is not None:
                version = self._labelled(model, label)
            if version is None:
                if not model.statuses:
                    raise NotFoundError(f"Could not find any versions of model {name}")
                return [model.statuses[v] for v in sorted(model.statuses, reverse=True)]
            if version not in model.statuses:
                raise NotFoundError(f"Could not find version {version} of model {name}")
            return [model.statuses[version]]

    def get(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """The available version asked for: by number, by label, or else the newest.

        Raises:
            NotFoundError: TF Serving's "Servable not found for request: ..." or an unknown label.
        """
        with self._lock:
            model = self._model(name, f"Servable not found for request: Latest({name})")
            if label is not None:
                version = self._labelled(model, label)
            if version is None:
                if not model.loaded:
                    raise NotFoundError(f"Servable not found for request: Latest({name})")
                return model.loaded[max(model.loaded)]
            if version not in model.loaded:
                raise NotFoundError(f"Servable not found for request: Specific({name}, {version})")
            return model.loaded[version]
