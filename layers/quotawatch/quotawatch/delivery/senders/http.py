"""The HTTP sender the webhook channel types share; each type (delivery/senders/<type>.py)
says what to POST (a pure format from core/channels.py) and what an answer means.

One policy: core/urls.py's URL rule, short timeouts, at most two attempts (a Retry-After
over 2 s goes to the retry path), no redirects or proxy; a channel that failed is not tried
again in the same invocation (one dead channel costs one timeout, not one per message).
URLs and routing keys are secrets: an error names the host, answers are masked.

It stays on urllib3 (sync, a few messages an invocation), with the providers' TLS context.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from quotawatch.adapters.http import USER_AGENT, _retry_after, shared_ssl_context
from quotawatch.core.channels import Channel, encode
from quotawatch.core.masking import mask_and_cut
from quotawatch.core.messages import Message
from quotawatch.core.record import QueuedMessage
from quotawatch.core.urls import RefusedUrl, key_target
from quotawatch.ports import ChannelFailed, KeyStore

if TYPE_CHECKING:
    import urllib3


@dataclass(frozen=True)
class ChannelPolicy:
    connect_timeout: float = 2.0
    read_timeout: float = 4.0
    max_attempts: int = 2
    wait_at_most: float = 2.0  # a longer Retry-After goes to the retry path instead
    backoff: float = 0.5


@dataclass(frozen=True)
class Post:
    """One request to a channel."""

    url: str
    body: bytes
    headers: dict[str, str]
    secrets: tuple[str, ...]  # what must never appear in a log or an error


class Format(Protocol):
    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post: ...

    def receipt(self, status: int, body: bytes) -> str:
        """What the channel's answer says it did (logged and stored beside `sent#`)."""
        ...


class HttpSender:
    def __init__(
        self,
        keys: KeyStore,
        formats: Mapping[str, Format],
        policy: ChannelPolicy | None = None,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._formats = formats
        self.policy = policy or ChannelPolicy()
        self._pool = pool or _pool_manager(4)
        self._sleep = sleep
        self._wall = wall
        self._failed: dict[str, ChannelFailed] = {}  # channels that failed in this invocation

    def new_invocation(self) -> None:
        self._failed.clear()

    def send(self, channel: Channel, queued: QueuedMessage) -> str:
        """Deliver to `channel`; its receipt. Raises ChannelFailed (safe text) when it did not take it."""
        earlier = self._failed.get(channel.name)
        if earlier is not None:
            again = ChannelFailed(f"{earlier} (moments ago; not tried again now)", earlier.retry_after)
            again.again = True
            raise again
        try:
            return self._send(channel, queued)
        except ChannelFailed as exc:
            self._failed[channel.name] = exc
            raise

    def _send(self, channel: Channel, queued: QueuedMessage) -> str:
        try:
            post = self._formats[channel.type].request(channel, queued, self._keys, self._wall())
        except Exception as exc:  # a missing secret field, above all: it names the field, never a value
            raise ChannelFailed(f"cannot prepare the request ({type(exc).__name__}: {str(exc)[:200]})") from None
        try:
            target = key_target(post.url)
        except RefusedUrl as exc:
            raise ChannelFailed(str(exc).replace("an API key", "a message")) from None
        attempt = 0
        while True:
            attempt += 1
            try:
                status, body = self._post_once(target.url, target.host, post)
            except ChannelFailed as exc:
                retry = exc.retry_after
                if (
                    not exc.passing
                    or exc.unknown
                    or attempt >= self.policy.max_attempts
                    or (retry is not None and retry > self.policy.wait_at_most)
                ):
                    raise
                self._sleep(retry if retry is not None else self.policy.backoff)
                continue
            return self._formats[channel.type].receipt(status, body)

    def _post_once(self, url: str, host: str, post: Post) -> tuple[int, bytes]:
        from urllib3 import exceptions as failed

        p = self.policy
        try:
            response = self._pool.urlopen(
                "POST",
                url,
                body=post.body,
                headers={"User-Agent": USER_AGENT, "Content-Type": "application/json", **post.headers},
                timeout=_timeout(p.connect_timeout, p.read_timeout),
                retries=False,
                redirect=False,
            )
        except failed.ReadTimeoutError:  # the request went out: it may have been taken
            raise ChannelFailed(f"{host} did not answer in time", unknown=True) from None
        except failed.TimeoutError:
            raise ChannelFailed(f"{host} could not be reached in time") from None
        except failed.HTTPError as exc:
            raise ChannelFailed(f"cannot reach {host} ({type(exc).__name__})") from None
        status, body = response.status, response.data[:2000]
        if 200 <= status < 300:
            return status, body
        said = mask_and_cut(body.decode("utf-8", "replace"), post.secrets, 120).strip()
        detail = f": {said}" if said else ""
        retry_after = _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        raise ChannelFailed(f"{host} answered {status}{detail}", retry_after, passing=status == 429 or status >= 500)


def _pool_manager(pool_size: int) -> urllib3.PoolManager:
    """Keep-alive connections per host. Nothing from the environment: no proxy (plain http
    through one would carry the secret URL off this machine in clear) and no CA bundle
    variable (the shared context decides trust)."""
    import urllib3

    return urllib3.PoolManager(
        num_pools=32, maxsize=pool_size, cert_reqs="CERT_REQUIRED", ssl_context=shared_ssl_context()
    )


@lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    import urllib3

    return urllib3.Timeout(connect=connect, read=read)


def receipt_of_status(status: int, _body: bytes) -> str:
    return f"HTTP {status}"


@dataclass(frozen=True)
class ChatWebhook:
    """A chat's incoming webhook: the URL is the secret; a 2xx answer means it was posted."""

    payload: Callable[[Message], dict[str, Any]]  # a pure format of core/channels.py

    def request(self, channel: Channel, queued: QueuedMessage, keys: KeyStore, now: float) -> Post:
        url = keys.get(channel.secret_field)
        return Post(url, encode(self.payload(queued.message)), {}, (url,))

    def receipt(self, status: int, body: bytes) -> str:
        return receipt_of_status(status, body)
