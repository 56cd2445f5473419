"""Request errors with TF Serving's status codes and their HTTP mapping."""

from __future__ import annotations

__all__ = [
    "InternalError",
    "InvalidArgumentError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServingError",
    "UnavailableError",
]


class ServingError(Exception):
    """A request failed; the REST answer is ``{"error": message}`` with ``http_status``.

    >>> err = NotFoundError("Could not find any versions of model m")
    >>> err.http_status, err.code
    (404, 'NOT_FOUND')
    """

    code = "UNKNOWN"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(ServingError):
    """A malformed or inconsistent request: bad JSON, unknown signature or input, wrong dtype or shape."""

    code = "INVALID_ARGUMENT"
    http_status = 400


class NotFoundError(ServingError):
    """Unknown model, version or label."""

    code = "NOT_FOUND"
    http_status = 404


class UnavailableError(ServingError):
    """The server cannot take the request now (a full batching queue, shutting down)."""

    code = "UNAVAILABLE"
    http_status = 503


class MethodNotAllowedError(ServingError):
    """A known path asked with the wrong HTTP method (GET for ``:predict``, POST for a status)."""

    code = "INVALID_ARGUMENT"
    http_status = 405

    def __init__(self, message: str, allowed: str) -> None:
        super().__init__(message)
        self.allowed = allowed  # the method the path takes, sent as the Allow header


class PayloadTooLargeError(ServingError):
    """A request body over ``--max_body_bytes``."""

    code = "RESOURCE_EXHAUSTED"
    http_status = 413


class InternalError(ServingError):
    """The model failed while running a request that passed every check."""

    code = "INTERNAL"
    http_status = 500
