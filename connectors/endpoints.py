"""Provider endpoints a config may override: a gateway or proxy in front of the provider, a
national cloud. They must be https, except on the loopback interface (a local gateway)."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secure_url(url: str) -> str:
    """`url` without a trailing slash; ValueError unless it is https:// (or http:// on loopback)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        raise ValueError("expected an https:// URL")
    if not parts.hostname:
        raise ValueError("expected a URL with a host name")
    return url.rstrip("/")
