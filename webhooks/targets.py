"""Where a webhook may go (SSRF defence, OWASP's SSRF cheat sheet).

A URL is parsed, its host resolved once, and EVERY address checked: one private address among
public ones refuses the URL (a resolver may answer differently next time). The sender then connects
to a vetted address (``transport``), so DNS rebinding gets no second lookup to win. Checked when an
endpoint is registered or changed, and again before every delivery.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from pylon.core.exceptions import ApplicationError, ErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: an IPv4 address inside IPv6


class TargetRefused(ApplicationError):
    code = ErrorCode.WEBHOOK_TARGET_REFUSED


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def address_refusal(address: IPAddress) -> str | None:
    """Why Pylon will not connect to ``address``, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None
        )
        if embedded is not None:
            return address_refusal(embedded)
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local (cloud metadata)"),
        (address.version == 4 and address in SHARED_ADDRESS_SPACE, "shared address space"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests patch this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def target_resolve(url: str) -> Target:
    """Parse, resolve and vet ``url``; raises ``TargetRefused`` saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Not a valid URL: {exc}.", fields={"url": ["Not a valid URL."]}) from None
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise TargetRefused("Webhook URLs must use https.", fields={"url": ["Use an https:// URL."]})
    if not parts.hostname:
        raise TargetRefused("The URL has no host.", fields={"url": ["The URL has no host."]})
    if parts.username or parts.password:
        raise TargetRefused("The URL must not carry credentials.", fields={"url": ["Remove the user:password@."]})
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            raise TargetRefused(f"{host} does not resolve.", fields={"url": ["The host does not resolve."]}) from None
    if not addresses:
        raise TargetRefused(f"{host} does not resolve.", fields={"url": ["The host does not resolve."]})
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            reason = address_refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason:
                message = f"{host} resolves to {address}, a {reason} address: webhooks go to public addresses only."
                raise TargetRefused(message, fields={"url": [message]})
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, path=path, addresses=tuple(addresses))
