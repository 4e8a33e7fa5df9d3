"""Errors of remote stores: which are worth retrying, the retry loop with back-off, and the
translation of a store's errors into those of local files (``FileNotFoundError`` naming the URL,
``PermissionError``).

Transient errors (connection resets, timeouts, HTTP 408/429/5xx and throttling) are retried with
exponential back-off and jitter; a missing object or a refused permission is raised at once.
"""

from __future__ import annotations

import contextlib
import errno
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["DEFAULT_BACKOFF", "DEFAULT_RETRIES", "call_with_retries", "is_transient", "stop_retries_when",
           "translate_error"]

_T = TypeVar("_T")

#: Default number of retries of a transient error, and the first back-off in seconds.
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.25
_MAX_BACKOFF = 10.0

_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError,
              ImportError, ValueError, TypeError, KeyError)
_TRANSIENT_ERRNO = {errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED,
                    errno.EPIPE, errno.EBUSY, getattr(errno, "EREMOTEIO", 121)}
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestTimeout",
                    "RequestTimeoutException", "ServiceUnavailable", "InternalError", "RequestLimitExceeded",
                    "TooManyRequestsException", "ProvisionedThroughputExceededException", "BandwidthLimitExceeded"}
_TRANSIENT_NAMES = ("Timeout", "ConnectionError", "ConnectionClosed", "ServerDisconnected", "ClientPayloadError",
                    "ClientOSError", "IncompleteRead", "ProtocolError", "EndpointConnectionError",
                    "ResponseStreamingError", "ChunkedEncodingError")


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: connection failures, timeouts, HTTP 408/429/5xx and
    throttling; never for a missing object, a refused permission or a bad request.

    The exception and its causes are inspected (s3fs wraps botocore's errors in ``OSError``).
    """
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, _PERMANENT):
            return False
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNO:
            return True
        status = getattr(current, "status", None) or getattr(current, "status_code", None)
        response = getattr(current, "response", None)
        code = None
        if isinstance(response, Mapping):
            status = status or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = response.get("Error", {}).get("Code")
        if isinstance(status, int) and status in _TRANSIENT_STATUS:
            return True
        if code in _TRANSIENT_CODES:
            return True
        if any(marker in cls.__name__ for cls in type(current).__mro__ for marker in _TRANSIENT_NAMES):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def translate_error(exc: BaseException, url: str) -> BaseException:
    """Local-file errors that name the URL (fsspec's messages name the bare key)."""
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(errno.ENOENT, "no such file or object", url)
    if isinstance(exc, PermissionError):
        return PermissionError(errno.EACCES, f"permission denied ({exc}); check the credentials "
                                             "(AWS_ACCESS_KEY_ID ..., or storage_options)", url)
    if isinstance(exc, (IsADirectoryError, NotADirectoryError)):
        return type(exc)(exc.errno, exc.strerror or str(exc), url)
    return exc


def call_with_retries(fn: Callable[[], _T], url: str, retries: int = DEFAULT_RETRIES,
                      backoff: float = DEFAULT_BACKOFF, sleep: Callable[[float], None] = time.sleep) -> _T:
    """Call ``fn()``, retrying transient errors with exponential back-off and jitter.

    Args:
        fn: the remote call.
        url: named in errors.
        retries: retries after the first attempt (0: none).
        backoff: the first wait in seconds; it doubles every retry (up to 10 s), times a random
            factor in [0.5, 1].
        sleep: the wait function.

    Returns:
        What ``fn`` returns.

    Raises:
        FileNotFoundError, PermissionError: at once, naming ``url``.
        OSError: the last transient error once the retries are used up, naming ``url`` and the
            number of attempts.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                translated = translate_error(exc, url)
                if translated is exc:
                    raise
                raise translated from exc
            if attempt >= retries:
                raise OSError(errno.EIO, f"{type(exc).__name__}: {exc} (gave up after {attempt + 1} attempts; "
                                         "the store is unreachable or overloaded, try again later or raise "
                                         "retries)", url) from exc
            stop = getattr(_RETRY_SCOPE, "stop", None)
            wait = min(_MAX_BACKOFF, backoff * 2 ** attempt) * (0.5 + 0.5 * random.random())
            if stop is not None and (stop.is_set() or stop.wait(wait)):
                raise OSError(errno.ECANCELED, f"{type(exc).__name__}: {exc} (not retried: nobody waits for this "
                                               "read any more)", url) from exc
            if stop is None:
                sleep(wait)
            attempt += 1


_RETRY_SCOPE = threading.local()


@contextlib.contextmanager
def stop_retries_when(stop: threading.Event):
    """In this thread, :func:`call_with_retries` makes no further retry once ``stop`` is set.

    Background reads (a loader's read-ahead) run in this scope, so that a closed loader does not
    keep retrying a server that has gone away.
    """
    previous = getattr(_RETRY_SCOPE, "stop", None)
    _RETRY_SCOPE.stop = stop
    try:
        yield
    finally:
        _RETRY_SCOPE.stop = previous
