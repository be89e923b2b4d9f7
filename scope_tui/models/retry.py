"""One retry policy for every provider's SDK: what is retried, how long to wait, and the one-line errors.

The official `anthropic` and `openai` SDKs raise the same family of exceptions (AuthenticationError,
PermissionDeniedError, BadRequestError, NotFoundError, APIStatusError, APIConnectionError), so one loop
serves both. 429, 5xx (and Anthropic's 529) and connection errors are retried with exponential backoff,
honouring the server's `retry-after` but never waiting longer than `retry_cap` seconds. A refused key
(401/403) fails at once with one line that says what to do; the key itself is never put in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from scope_tui.models.base import ModelError

T = TypeVar("T")


def server_message(exc: Any) -> str:
    """The server's own first line about an error, or the exception's class name."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        msg = err.get("message") if isinstance(err, dict) else None
        if msg:
            return str(msg).splitlines()[0][:200]
    return type(exc).__name__


def with_retries(
    sdk: Any,
    call: Callable[[], T],
    *,
    model: str,
    key_hint: str,
    max_attempts: int = 5,
    retry_cap: float = 8.0,
    on_retry: Callable[[int, float, str], None] | None = None,
) -> T:
    """`call()` under the retry policy; `sdk` is the imported SDK module whose exceptions it raises.

    `key_hint` names what to check when the key is refused (e.g. "ANTHROPIC_API_KEY").
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except (sdk.AuthenticationError, sdk.PermissionDeniedError) as exc:
            raise ModelError(
                f"the API refused the key ({exc.status_code}: {server_message(exc)}); "
                f"check {key_hint} or use --model offline"
            ) from None
        except sdk.BadRequestError as exc:
            raise ModelError(f"the API rejected the request (400: {server_message(exc)})") from None
        except sdk.NotFoundError as exc:
            raise ModelError(f"model {model!r} not found (404: {server_message(exc)})") from None
        except (sdk.APIStatusError, sdk.APIConnectionError) as exc:
            status = getattr(exc, "status_code", None)
            retryable = status is None or status == 429 or status >= 500
            why = f"{status}: {server_message(exc)}" if status else f"connection: {type(exc).__name__}"
            if not retryable or attempt >= max_attempts:
                raise ModelError(
                    f"the API failed after {attempt} attempt(s) ({why})", retryable=retryable
                ) from None
            wait = min(0.5 * 2 ** (attempt - 1), retry_cap)
            response = getattr(exc, "response", None)
            ra = response.headers.get("retry-after") if response is not None else None
            if ra is not None:
                try:
                    wait = min(max(float(ra), 0.0), retry_cap)
                except ValueError:
                    pass
            if on_retry:
                on_retry(attempt, wait, why)
            time.sleep(wait)
