"""Fetching an image from an http(s) URL the operator allows, without becoming a proxy into the
server's own network (server-side request forgery).

- The host must be on the allow-list, exactly (`images.example.com` does not allow
  `cdn.images.example.com`, nor `images.example.com.evil.net`, nor a user-info trick).
- The name is resolved once per connection and every address it resolves to must be public:
  private, loopback, link-local, shared, reserved, multicast and IPv4-mapped internal addresses are
  refused. The connection goes to the address that was checked (no second lookup that DNS
  rebinding could answer differently). Messages never name the resolved address.
- Redirects are followed only to allowed hosts, each hop checked like the first, at most
  `max_redirects`.
- The byte cap is applied to the declared length before reading and to the bytes while reading;
  the whole download has one timeout. No proxy settings from the environment are used.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore

from .errors import bad_request, too_large
from .limits import ServerLimits

REDIRECTS = (301, 302, 303, 307, 308)


class BlockedAddressError(httpcore.ConnectError):
    """The host resolves to an address the server must not reach."""


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this: no real DNS in the suite)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class CheckedAddressBackend(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses, to the very address it checked."""

    def __init__(self):
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await resolve_host(host, port)
        if not addresses or not all(is_public_address(address) for address in addresses):
            raise BlockedAddressError(host)
        return await self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise BlockedAddressError("unix sockets are never used")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def check_remote_url(url: str, limits: ServerLimits, where: str) -> str:
    """The URL's host, if the operator allows it; else a 400 naming the host (the client's own text)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise bad_request(f"{where}: only http and https URLs can be fetched", where)
    if not limits.allowed_remote_hosts:
        raise bad_request(
            f"{where}: this server does not fetch remote images; send a base64 data: URL", where
        )
    host = (parts.hostname or "").rstrip(".")
    if host not in limits.allowed_remote_hosts:
        raise bad_request(
            f"{where}: host {host!r} is not on this server's allow-list for remote images", where
        )
    return host


async def fetch_remote(url: str, limits: ServerLimits, where: str) -> bytes:
    """The body of `url`, following allowed redirects, within the byte cap and the timeout."""
    try:
        with anyio.fail_after(limits.remote_timeout):
            async with httpcore.AsyncConnectionPool(network_backend=CheckedAddressBackend()) as pool:
                for _ in range(limits.max_redirects + 1):
                    host = check_remote_url(url, limits, where)
                    body, location = await fetch_once(pool, url, limits, where, host)
                    if location is None:
                        return body
                    url = urljoin(url, location)
    except TimeoutError:
        raise bad_request(
            f"{where}: the download took longer than {limits.remote_timeout:g} s", where
        ) from None
    except BlockedAddressError:
        host = urlsplit(url).hostname
        raise bad_request(
            f"{where}: {host!r} resolves to a private, loopback, link-local or reserved address; refused",
            where,
        ) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as error:
        raise bad_request(
            f"{where}: the image could not be downloaded ({type(error).__name__})", where
        ) from None
    raise bad_request(f"{where}: more than {limits.max_redirects} redirects", where)


async def fetch_once(pool, url: str, limits: ServerLimits, where: str, host: str) -> tuple[bytes, str | None]:
    """(body, None) for a 200, (b"", next URL) for a redirect; anything else is an error."""
    request_headers = [(b"Accept", b"image/*"), (b"User-Agent", b"sphinx-x")]
    async with pool.stream("GET", url, headers=request_headers) as response:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in response.headers}
        if response.status in REDIRECTS and "location" in headers:
            return b"", headers["location"]
        if response.status != 200:
            raise bad_request(f"{where}: {host} answered HTTP {response.status}", where)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_image_bytes:
            raise too_large(
                f"{where}: the image is {declared} bytes; the limit is {limits.max_image_bytes}", where
            )
        return await read_capped(response, limits.max_image_bytes, where), None


async def read_capped(response, cap: int, where: str) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_stream():
        size += len(chunk)
        if size > cap:
            raise too_large(f"{where}: the image is more than {cap} bytes, the limit", where)
        chunks.append(chunk)
    return b"".join(chunks)
