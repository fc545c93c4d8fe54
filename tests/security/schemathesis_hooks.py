"""Schemathesis hooks for the API fuzz test: the one error shape on every 4xx and 5xx.

Loaded by the ``st`` command through ``SCHEMATHESIS_HOOKS=tests.security.schemathesis_hooks``.
"""

import schemathesis

ERROR_KEYS = {"code", "message", "request_id"}


@schemathesis.check
def error_shape(ctx, response, case):
    """Every error answer is ``{code, message, request_id}`` with a string code."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} with a body that is not JSON") from exc
    if not isinstance(body, dict) or set(body) != ERROR_KEYS or not isinstance(body["code"], str):
        raise AssertionError(f"{response.status_code} not in the error shape: {body!r}")
    return None
