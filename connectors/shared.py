"""What one process builds once and shares between the connectors of all its accounts.

A process serving many sellers opens a connector for each, and whatever each builds for
itself (a session with its pools, an API's service object) it holds as many times as there
are sellers. What holds no account's credentials or state is built here once, on first use,
under a lock, since connectors are opened by the daemon's workers in parallel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies_environment

import httplib2
from requests.utils import should_bypass_proxies

T = TypeVar("T")
SCHEMES: tuple[Literal["http", "https"], ...] = ("http", "https")

_LOCK = threading.RLock()  # a build may ask for another
_built: dict[str, Any] = {}


def once(name: str, build: Callable[[], T]) -> T:
    """What `build()` returned the first time `name` was asked for in this process."""
    with _LOCK:
        if name not in _built:
            _built[name] = build()
        found: T = _built[name]
        return found


def httplib2_proxies(proxies: Mapping[str, str]) -> Callable[[str], httplib2.ProxyInfo | None]:
    """An httplib2 client's `proxy_info`: the proxy of a scheme. `proxies` maps a scheme to its
    proxy's URL and "no" to the hosts that go straight (NO_PROXY), as
    `urllib.request.getproxies_environment` gives them; httplib2 exempts those hosts itself."""
    exempt = proxies.get("no", "")
    found: dict[str, httplib2.ProxyInfo] = {
        scheme: httplib2.proxy_info_from_url(url, scheme, noproxy=exempt)
        for scheme in SCHEMES
        if (url := proxies.get(scheme))
    }
    return found.get


class Environment:
    """The proxies and CA bundle the environment gives an HTTP session, as they stood when the
    session was made.

    A `requests` or `niquests` session that trusts the environment reads the proxy variables,
    NO_PROXY and the CA bundle variables again at every request. A connector's session turns
    that off (`trust_env = False`) and asks this instead, which reads them once and applies
    them as such a session would: a user's HTTP(S)_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE (or
    CURL_CA_BUNDLE) still apply. Netrc is not read: a connector's credentials come from its
    configuration. The connectors that send through httplib2 get the same settings from
    `httplib2_settings`.
    """

    def __init__(self) -> None:
        self.ca_bundle = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
        )
        self.proxies = getproxies_environment()  # by scheme, and "no": NO_PROXY
        self._proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def httplib2_settings(self) -> dict[str, Any]:
        """The same, as the arguments of an `httplib2.Http`: the proxy of each scheme, from
        which httplib2 exempts the NO_PROXY hosts itself, and the CA bundle (None: its own)."""
        return {"proxy_info": httplib2_proxies(self.proxies), "ca_certs": self.ca_bundle}

    def settle(
        self, url: str, proxies: MutableMapping[str, str] | None, verify: Any
    ) -> tuple[dict[str, str], Any]:
        """The proxies and `verify` a request to `url` gets: those it was given, else the
        environment's."""
        no_proxy = proxies.get("no_proxy") if proxies else None
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        found = self._proxies.get(key)
        if found is None:
            found = self._proxies[key] = self._environment_proxies(url, no_proxy)
        if verify is True or verify is None:
            verify = self.ca_bundle or verify
        return {**found, **(proxies or {})}, verify

    def _environment_proxies(self, url: str, no_proxy: str | None) -> dict[str, str]:
        if not self.proxies:
            return {}
        exempt = no_proxy if no_proxy is not None else self.proxies.get("no", "")
        return {} if should_bypass_proxies(url, no_proxy=exempt) else dict(self.proxies)
