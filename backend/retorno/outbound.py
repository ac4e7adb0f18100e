"""Where an outbound request (a webhook, a call to a store platform) may go: never into the
deployment's own network.

An endpoint's URL is checked when it is saved (its host resolved, every address checked) and again
at every delivery, where `CheckedResolver` is the aiohttp session's resolver: the addresses it
checks are the ones aiohttp connects to, so a name that changes its answer between the check and
the connection (DNS rebinding) gains nothing. A URL whose host is an IP literal never reaches a
resolver (aiohttp skips it), so the sender checks those itself (`refusal_of_host`).

Refused: loopback, private, link-local, CGNAT (100.64/10), multicast, unspecified, reserved and
documentation ranges; IPv4 inside IPv6 (mapped, 6to4, NAT64) is judged as the IPv4 it carries.
RETORNO_WEBHOOKS_ALLOW_PRIVATE lets all of those through (tests, a receiver on the same network),
but never the cloud metadata services, which no webhook has a reason to call.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import SplitResult, urlsplit

import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult

from retorno.errors import Field, Invalid

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[list[str]]]
MAX_URL = 2000
LOOKUP_TIMEOUT = 3.0
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's wire server (a public address)
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """What outbound requests may reach: from the settings (`of`), or a test's own."""

    allow_private: bool = False
    require_https: bool = True
    lookup: Any = None  # async (host, port) -> IP strings; None: the system's resolver

    @classmethod
    def of(cls, settings: Any) -> Options:
        allowed = bool(settings.webhooks_allow_private)
        return cls(allow_private=allowed, require_https=settings.production and not allowed)


class RefusedAddress(OSError):
    """A host that resolves to an address webhooks may not reach (aiohttp reports it as a
    connection error of the DNS kind)."""


def _carried(ip: IP) -> IP:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), else the address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IP, *, allow_private: bool) -> str | None:
    """Why this address may not be reached; None: it may."""
    inner = _carried(ip)
    if ip in METADATA or inner in METADATA:
        return "a cloud metadata address"
    if allow_private:
        return None
    for address in {ip, inner}:
        if address.is_unspecified or address.is_loopback:
            return "a loopback or unspecified address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_reserved or not address.is_global:
            return "a private or reserved address"
    return None


def _literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def refusal_of_host(host: str, *, allow_private: bool) -> str | None:
    """An IP literal's refusal (names are judged by the resolver, after resolution); asked at
    every delivery, hence cached (an answer depends on the host alone)."""
    ip = _literal(host)
    return refusal(ip, allow_private=allow_private) if ip is not None else None


async def system_lookup(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_checked(host: str, port: int, options: Options) -> list[IP]:
    """The host's addresses, all of them allowed; RefusedAddress if any is not (or none is found)."""
    ip = _literal(host)
    if ip is not None:
        found = [ip]
    else:
        lookup: Lookup = options.lookup or system_lookup
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await lookup(host, port)]
        except (OSError, TimeoutError, ValueError) as exc:
            raise RefusedAddress(f"{host} could not be resolved ({type(exc).__name__})") from None
    if not found:
        raise RefusedAddress(f"{host} has no address")
    for address in found:
        why = refusal(address, allow_private=options.allow_private)
        if why is not None:
            raise RefusedAddress(f"{host} resolves to {why} ({address})")
    return found


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for webhook sessions: only checked addresses are ever connected to."""

    def __init__(self, options: Options) -> None:
        self.options = options

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        found = await resolve_checked(host, port, self.options)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in found
        ]

    async def close(self) -> None:
        return None


def parse_url(url: str, options: Options) -> SplitResult:
    """An endpoint URL as it may be saved: http(s), a host, no credentials, https if required."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise Invalid("%(field)s: at most %(max)s characters", field=Field("url"), max=MAX_URL)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise Invalid("%(field)s: not a valid URL", field=Field("url")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() or " " in url:
        raise Invalid("%(field)s: not a valid URL", field=Field("url"))
    if parts.username is not None or parts.password is not None:
        raise Invalid("%(field)s: a user name or password cannot be part of the URL", field=Field("url"))
    if options.require_https and parts.scheme != "https":
        raise Invalid("%(field)s: must start with https://", field=Field("url"))
    return parts


async def check_url(url: str, options: Options) -> str:
    """The URL stripped, once its host resolves to addresses webhooks may reach (Invalid if not)."""
    parts = parse_url(url, options)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await resolve_checked(host, port, options)
    except RefusedAddress as exc:
        if "could not be resolved" in str(exc) or "has no address" in str(exc):
            raise Invalid(
                "%(field)s: the host %(host)s could not be found", field=Field("url"), host=host
            ) from None
        raise Invalid(
            "%(field)s: %(host)s is on a private, loopback or reserved network, which webhooks may not reach",
            field=Field("url"),
            host=host,
        ) from None
    return url.strip()
