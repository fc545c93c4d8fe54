"""Requests to endpoints a caller chose: which hosts and which addresses they may reach.

A caller may point the agents at their own OpenAI-compatible server (``X-LLM-Base-URL``). The
server then sends requests there, from inside our network. Outside development such a URL
must name a host on ``LLM_BASE_URL_ALLOWED_HOSTS``, and every address that host resolves to
must be public or itself listed: loopback, private, link-local, carrier-grade NAT and cloud
metadata addresses are refused unless an entry covers them. The check runs twice: when the
request arrives (a 422 that names the setting) and again when each connection is opened (the
transport below resolves the name, checks every address and connects to a checked one), so a
name that resolves to a public address at the first look and to 10.0.0.5 at the second (DNS
rebinding) is still refused. TLS still verifies the certificate against the host name.

Entries of the allow-list: a host name (``vllm.example.com``), a domain suffix with a
leading dot (``.internal.example.com``), an IP address (``10.0.3.7``) or a network
(``10.0.3.0/24``). A name admits the host; only an address or network entry admits a
non-public address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx

if TYPE_CHECKING:
    from core.settings import Settings

SETTING = "LLM_BASE_URL_ALLOWED_HOSTS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services answer with credentials; named so the refusal says what they are.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class EgressRefusedError(ValueError):
    """A caller-chosen URL may not be reached; the message says which setting would allow it."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Return the addresses ``host`` resolves to, in the order the system gives them."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _as_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _kind(address: IPAddress) -> str | None:
    """Name what is wrong with reaching ``address`` unlisted, or None for a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts and addresses a caller-chosen URL may reach."""

    enforced: bool
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_entries(cls, entries: Iterable[str], *, enforced: bool) -> EgressPolicy:
        """Build the policy from allow-list entries (names, .suffixes, addresses, networks).

        Raises:
            ValueError: an entry is none of those.

        """
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("."):
                suffixes.append(entry)
            elif "/" in entry or ":" in entry or " " in entry:
                raise ValueError(f"{SETTING}: {raw!r} is not a host name, address or network")
            else:
                names.add(entry.rstrip("."))
        return cls(enforced, frozenset(names), tuple(suffixes), tuple(networks))

    def _address_listed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def check_host(self, host: str) -> None:
        """Refuse a host that the allow-list does not name (only when enforced).

        Raises:
            EgressRefusedError: the host is not listed.

        """
        if not self.enforced:
            return
        host = host.lower().rstrip(".")
        address = _as_address(host)
        if address is not None:
            if self._address_listed(address):
                return
            what = _kind(address) or "an address"
            raise EgressRefusedError(
                f"the LLM base URL points at {host}, {what} that {SETTING} does not list; "
                f"add it to {SETTING} to allow it"
            )
        if host in self.names or any(host.endswith(s) for s in self.suffixes):
            return
        raise EgressRefusedError(
            f"the LLM base URL host {host} is not on {SETTING}; add it there to allow it"
        )

    def check_address(self, host: str, text: str) -> None:
        """Refuse a resolved address that is not public unless the allow-list covers it.

        Raises:
            EgressRefusedError: the address is loopback, private, link-local or metadata.

        """
        if not self.enforced:
            return
        address = _as_address(text)
        if address is None:
            raise EgressRefusedError(f"the LLM base URL host {host} resolved to no IP address")
        what = _kind(address)
        if what is None or self._address_listed(address):
            return
        raise EgressRefusedError(
            f"the LLM base URL host {host} resolves to {address}, {what}; add that address "
            f"(or its network) to {SETTING} to allow it"
        )

    def check_url(self, url: str) -> str:
        """Check the URL's scheme and host; return the host.

        Raises:
            EgressRefusedError: not an http(s) URL, or a host the allow-list does not name.

        """
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise EgressRefusedError("the LLM base URL must be an http(s) URL with a host")
        self.check_host(host)
        return host

    async def resolve(self, host: str, port: int, resolver: Resolver | None = None) -> list[str]:
        """Resolve ``host`` and check every address; return them (an address host as is).

        Raises:
            EgressRefusedError: the name does not resolve, or an address is refused.

        """
        if _as_address(host) is not None:
            addresses = [host.strip("[]")]
        else:
            try:
                addresses = await (resolver or system_resolver)(host, port)
            except OSError as exc:
                raise EgressRefusedError(f"the LLM base URL host {host} does not resolve") from exc
        if not addresses:
            raise EgressRefusedError(f"the LLM base URL host {host} does not resolve")
        for address in addresses:
            self.check_address(host, address)
        return addresses

    async def check_url_resolves(self, url: str, resolver: Resolver | None = None) -> None:
        """Check the URL's host and what it resolves to now (when enforced).

        Raises:
            EgressRefusedError: the host or one of its addresses is refused.

        """
        host = self.check_url(url)
        if not self.enforced:
            return
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self.resolve(host, port, resolver)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Open TCP connections only to addresses the policy admits, resolved here, at connect."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse it if any address is refused, else connect to one."""
        try:
            self._policy.check_host(host)
            addresses = await self._policy.resolve(host, port, self._resolver)
        except EgressRefusedError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception | None = None
        for address in addresses:
            try:
                # The checked address, not the name: a second lookup could answer differently.
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                error = exc
        raise httpcore.ConnectError(f"could not connect to {host}") from error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Refuse: a caller-chosen endpoint is reached over TCP only."""
        raise httpcore.ConnectError("unix sockets are not allowed for a caller-chosen URL")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._inner.sleep(seconds)


def guarded_async_client(
    policy: EgressPolicy,
    *,
    timeout_s: float,
    resolver: Resolver | None = None,
) -> httpx.AsyncClient:
    """Return an HTTP client whose every connection is checked against ``policy``.

    No environment proxies (a proxy would make the connection for us, unchecked); redirects
    are followed only through the same transport, so each hop is checked too.
    """
    transport = httpx.AsyncHTTPTransport()
    # httpx does not take a network backend; its pool is replaced by one that has ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=_GuardedBackend(policy, resolver),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout_s, follow_redirects=True, trust_env=False
    )


def _refuse_sync(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("a caller-chosen URL is reached by the async client only")


def refusing_sync_client() -> httpx.Client:
    """Return a client that sends nothing: the checked path is the async one."""
    return httpx.Client(transport=httpx.MockTransport(_refuse_sync), trust_env=False)


def caller_url_policy(settings: Settings) -> EgressPolicy:
    """Return the policy for URLs a caller chooses: enforced outside development."""
    return EgressPolicy.from_entries(
        settings.llm_base_url_allowed_hosts, enforced=settings.environment != "development"
    )


def is_configured_url(url: str, settings: Settings) -> bool:
    """Say whether ``url`` is the server's own LLM_BASE_URL (chosen by the operator)."""
    configured = settings.llm_base_url
    return bool(configured) and url.rstrip("/") == str(configured).rstrip("/")
