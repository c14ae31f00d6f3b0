"""Redis example databases from URLs, with the password kept out of every message.

:func:`redis_database_from_url` builds a ``RedisExampleDatabase`` from a URL whose
password never appears in any repr, message or log of ours; :func:`redact_url` shows
a URL with its password hidden. Connection timeouts are bounded and redis-py's own
retries kept short, since ResilientDatabase and the watcher retry by themselves.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from datetime import timedelta
from typing import Any

from hypofuzz_nb.errors import RedisUrlError

__all__ = ["redact_url", "redis_database_from_url"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also ``?password=`` query values)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{hostport}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(name.lower() == "password" for name, _ in query):
        query = [(n, "***" if n.lower() == "password" else v) for n, v in query]
        new_query = urllib.parse.urlencode(query, safe="*")
    else:
        new_query = parts.query
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, new_query, parts.fragment))


def redis_database_from_url(
    url: str,
    *,
    expire_after: timedelta | None = None,
    key_prefix: bytes | None = None,
    listener_channel: str | None = None,
    socket_timeout: float = 5.0,
    socket_connect_timeout: float = 2.0,
    check: bool = False,
) -> Any:
    """A ``RedisExampleDatabase`` on the server at ``url`` (``redis://[:password@]host:port/db``).

    ``expire_after``, ``key_prefix`` and ``listener_channel`` go to
    ``RedisExampleDatabase`` (its defaults when not given). The password is passed
    to redis-py only; redis-py redacts it in its reprs, and
    every message here shows :func:`redact_url`. Connection timeouts are bounded so
    that a vanished server makes writes fail (and be buffered by
    :class:`~hypofuzz_nb.resilient.ResilientDatabase`) instead of hanging.

    With ``check=True`` the server is pinged once, and an unreachable server or a
    wrong password raises :class:`RedisUrlError`. By default nothing is contacted
    here, so workers can start before the server does.
    """
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in _REDIS_SCHEMES:
        shown = redact_url(url) if isinstance(url, str) else repr(type(url).__name__)
        raise RedisUrlError(
            f"{shown!r} is not a Redis URL. Use redis://[:PASSWORD@]HOST:PORT/DB "
            "(or rediss:// for TLS, unix:///path/to/socket)."
        )
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as err:
        raise RedisUrlError(
            "The redis package is not installed: pip install 'hypofuzz_nb[redis]'"
        ) from err
    try:
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            # redis-py retries for seconds by default; ResilientDatabase and the watcher
            # retry themselves, so fail fast instead of stalling a worker per write.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        )
    except ValueError:
        # redis-py's messages quote the URL's parts, which may include the password.
        raise RedisUrlError(
            f"Could not use the Redis URL {redact_url(url)!r}: check its form "
            "(redis://[:PASSWORD@]HOST:PORT/DB)."
        ) from None
    kwargs: dict[str, Any] = {}
    if expire_after is not None:
        kwargs["expire_after"] = expire_after
    if key_prefix is not None:
        kwargs["key_prefix"] = key_prefix
    if listener_channel is not None:
        kwargs["listener_channel"] = listener_channel
    database = RedisExampleDatabase(client, **kwargs)
    if check:
        try:
            client.ping()
        except redis.AuthenticationError:
            raise RedisUrlError(
                f"The Redis server at {redact_url(url)!r} refused the password (or user): "
                "check the credentials in the URL."
            ) from None
        except redis.RedisError as err:
            raise RedisUrlError(
                f"Could not reach the Redis server at {redact_url(url)!r}: "
                f"{_scrub(str(err), url)}. Check that it is running and reachable."
            ) from None
    return database


def _password_of(url: str) -> str | None:
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            return urllib.parse.unquote(parts.password)
        for name, value in urllib.parse.parse_qsl(parts.query):
            if name.lower() == "password" and value:
                return value
    return None


def _scrub(text: str, url: str) -> str:
    password = _password_of(url)
    return text.replace(password, "***") if password else text
