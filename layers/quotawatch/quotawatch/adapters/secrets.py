"""API keys from one Secrets Manager secret holding a JSON object of named keys.

The secret is read once and cached across warm invocations: a warm run makes no Secrets
Manager call. A rotated key is picked up when the old one is rejected (`refresh`), and in
any case after `max_age`. Errors name the secret and the field, never a value.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from quotawatch.core.errors import CheckFailed
from quotawatch.core.snapshot import ErrorKind


class KeyUnavailable(CheckFailed):
    """The monitor's key cannot be had: missing, malformed or unreadable secret."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.CONFIG) -> None:
        super().__init__(kind, message)


class SecretsKeyStore:
    def __init__(
        self,
        client: Any,
        secret_name: str,
        max_age: float = 6 * 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
        rereads_per_run: int = 3,
    ) -> None:
        self._client = client
        self.secret_name = secret_name
        self._max_age = max_age
        self._monotonic = monotonic
        self._rereads_per_run = rereads_per_run
        self._keys: dict[str, Any] | None = None
        self._loaded_at = 0.0
        self._handed_out = threading.local()  # per thread: field -> the key `get` gave last
        self._run: datetime | None = None
        self._rereads = 0  # re-reads after a rejection in `_run`
        self._lock = threading.Lock()  # monitors are checked on a thread pool

    def where(self, field: str) -> str:
        return f"field '{field}' of secret '{self.secret_name}'"

    def new_run(self) -> None:
        """An invocation begins: its re-reads are counted afresh. A run is told by its time,
        to the second, and two invocations can share one (`check-now`, the key put in, then
        `check-now` again): without this the second could find the first's reads spent."""
        with self._lock:
            self._run, self._rereads = None, 0

    def refresh(self, field: str, run: datetime) -> str | None:
        """The key as the secret holds it now, after the one `get` gave (on this thread) was rejected.

        The secret is read again unless the cached copy already holds another key for this
        field than the rejected one: whether other monitors re-read it since says nothing
        about this field (it may have been rotated after their read, a second time in the
        same run). However many keys are rejected, at most `rereads_per_run` reads per run
        (`run` is its tick).
        """
        handed: dict[str, str] = getattr(self._handed_out, "keys", {})
        with self._lock:
            if run != self._run:
                self._run, self._rereads = run, 0
            cached = (self._keys or {}).get(field)
            stale = field not in handed or (isinstance(cached, str) and cached.strip() == handed[field])
            if stale and self._rereads < self._rereads_per_run:
                self._rereads += 1
                try:
                    self._read()
                except KeyUnavailable:
                    return None
        try:
            return self.get(field)
        except KeyUnavailable:
            return None

    def get(self, field: str) -> str:
        keys = self._load()
        value = keys.get(field)
        if value is None:
            raise KeyUnavailable(
                f"waiting for its key: secret '{self.secret_name}' has no field '{field}' yet",
                ErrorKind.NO_KEY,
            )
        if not isinstance(value, str) or not value.strip():
            raise KeyUnavailable(f"secret '{self.secret_name}' field '{field}' is not a non-empty string")
        key = value.strip()
        if not all(map(_key_char, key)):
            # Never the value, nor the character: it is part of the key.
            raise KeyUnavailable(
                f"{self.where(field)} holds a line break, a control character or a character outside "
                "latin-1, which an HTTP header cannot carry; put the key in again"
            )
        if not hasattr(self._handed_out, "keys"):
            self._handed_out.keys = {}
        self._handed_out.keys[field] = key  # in memory only: what `refresh` compares the cache with
        return key

    def _load(self) -> dict[str, Any]:
        with self._lock:
            keys = self._keys
            if keys is None or self._monotonic() - self._loaded_at >= self._max_age:
                keys = self._read()
            return keys

    def _read(self) -> dict[str, Any]:
        try:
            response = self._client.get_secret_value(SecretId=self.secret_name)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise KeyUnavailable(
                    f"secret '{self.secret_name}' does not exist (deploy the stack, or check API_KEYS_SECRET_NAME)"
                ) from None
            if code in ("AccessDeniedException", "AccessDenied"):
                raise KeyUnavailable(f"not allowed to read secret '{self.secret_name}'") from None
            raise KeyUnavailable(
                f"cannot read secret '{self.secret_name}' ({code or 'error'})", ErrorKind.UNAVAILABLE
            ) from None
        except BotoCoreError as exc:
            raise KeyUnavailable(
                f"cannot reach Secrets Manager for '{self.secret_name}' ({type(exc).__name__})",
                ErrorKind.UNAVAILABLE,
            ) from None
        text = response.get("SecretString")
        try:
            keys = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            keys = None
        if not isinstance(keys, dict):
            # The value itself is never quoted: it may be a bare key pasted in by mistake.
            raise KeyUnavailable(
                f'secret \'{self.secret_name}\' is not a JSON object of named keys, e.g. {{"cloudlayer-prod": "<key>"}}'
            )
        self._keys = keys
        self._loaded_at = self._monotonic()
        return keys


def _key_char(char: str) -> bool:
    """What an HTTP header can carry of a key: visible ASCII, a space, a visible latin-1 letter."""
    return " " <= char <= "~" or "\xa1" <= char <= "\xff"
