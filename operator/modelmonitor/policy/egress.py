"""Where the operator may send a request, and how a URL may be shown.

Pure: a function of the URL text and the allowlist patterns, no I/O, no DNS. The operator fetches
three kinds of URL a monitor names (``spec.prometheus.url``, ``spec.drift.reference.url``, webhook
URLs), so each is checked here before any request, and only its display form
``scheme://host[:port]`` ever reaches a message, status, Event, log or metric: userinfo, path and
query may carry credentials (Slack keeps its secret in the path, Prometheus URLs may carry
``user:password@``).

Parsing is strict on purpose: a URL whose authority two URL parsers could read differently (a
backslash, two ``@``, spaces, non-ASCII, a host that is a number in disguise like ``2130706433``
or ``0x7f.1``) is refused rather than interpreted, so the host checked here is the host the HTTP
client connects to.

Allowlist patterns (``MODELMONITOR_EGRESS_ALLOW``, comma-separated), matched case-insensitively:

- ``hooks.slack.com``: that host exactly;
- ``*.svc``: any host ending in ``.svc`` (not ``svc`` itself);
- ``10.0.0.0/8``, ``fd00::/8``: an IP-literal host in that network (host names are not resolved:
  a name matches name patterns only);
- ``10.1.2.3``, ``[::1]``: that address;
- any of these with ``:PORT`` (``*.svc:9090``, ``[::1]:8080``): that port only (the scheme's
  default port when the URL has none);
- ``*``: every host.

An empty allowlist allows every host (the scheme must still be http or https).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

MAX_URL_LENGTH = 2048
SCHEMES = {"http": 80, "https": 443}
# A host name: dot-separated labels of letters, digits and hyphens (no leading/trailing hyphen).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
# Everything an authority may hold that both urllib and urllib3 read the same way.
_AUTHORITY_CHARS = re.compile(r"^[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]*$")


class URLRefused(ValueError):
    """The URL cannot be used; the message says why and never repeats more than scheme://host[:port]."""


@dataclass(frozen=True)
class Endpoint:
    """Where a URL connects: scheme, lower-case host (IPv6 without brackets), effective port."""

    scheme: str
    host: str
    port: int
    explicit_port: bool
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None

    def shown(self) -> str:
        host = f"[{self.host}]" if isinstance(self.address, ipaddress.IPv6Address) else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.explicit_port else "")


def endpoint(url: str) -> Endpoint:
    """Parse an absolute http(s) URL into the place it connects to; URLRefused when it is not one."""
    if not isinstance(url, str) or not url:
        raise URLRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise URLRefused(f"the URL is {len(url)} characters long, over {MAX_URL_LENGTH}")
    if any(c.isspace() for c in url):
        raise URLRefused("the URL contains whitespace or a line break (a trailing newline counts)")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url) or not url.isascii():
        raise URLRefused("the URL contains control or non-ASCII characters")
    if "\\" in url:
        raise URLRefused("the URL contains a backslash")
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        # The text before "://" is not shown either: without "://" it is the whole value.
        raise URLRefused("it is not an absolute http:// or https:// URL")
    try:
        authority = urlsplit(url).netloc
    except ValueError:  # urllib refuses a bracketed host that is no IPv6 address
        raise URLRefused(f"the URL's host is not a valid IPv6 address ({scheme}://...)") from None
    if not authority or not _AUTHORITY_CHARS.match(authority) or authority.count("@") > 1:
        raise URLRefused(f"the URL has no valid host ({scheme}://...)")
    hostport = authority.rpartition("@")[2]
    host, port_text, explicit = _split_hostport(hostport, scheme)
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise URLRefused(f"the URL's host is not a valid IPv6 address ({scheme}://...)") from None
        host = str(address)
    else:
        host = host.lower()
        if host.endswith("."):
            host = host[:-1]  # the absolute form of the same name
        if not _HOSTNAME.match(host) or len(host) > 253:
            raise URLRefused(f"the URL's host is not a valid host name or address ({scheme}://...)")
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            # A host ending in a number is an IPv4 address: only the dotted-quad form is accepted,
            # since resolvers read 2130706433, 0x7f.1 or 127.1 as 127.0.0.1.
            try:
                address = ipaddress.IPv4Address(host)
            except ValueError:
                raise URLRefused(f"the URL's host is not a canonical IPv4 address ({scheme}://...)") from None
    port = SCHEMES[scheme]
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise URLRefused(f"the URL's port is not a number from 1 to 65535 ({scheme}://{host})")
        port = int(port_text)
    return Endpoint(scheme, host, port, explicit, address)


def _split_hostport(hostport: str, scheme: str) -> tuple[str, str | None, bool]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise URLRefused(f"the URL's IPv6 host has no closing bracket ({scheme}://...)")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise URLRefused(f"the URL has no valid host ({scheme}://...)")
        return host, (rest[1:] if rest else None), bool(rest)
    if "[" in hostport or "]" in hostport:
        raise URLRefused(f"the URL has no valid host ({scheme}://...)")
    host, sep, port = hostport.partition(":")
    if ":" in port:
        raise URLRefused(f"the URL has no valid host ({scheme}://...)")
    return host, (port if sep else None), bool(sep)


def shown(url: str) -> str:
    """The display form of a URL: ``scheme://host[:port]``, nothing of userinfo, path or query.

    A URL that does not parse shows as ``(invalid URL)``: its text may be anything, a password too.
    """
    try:
        return endpoint(url).shown()
    except URLRefused:
        return "(invalid URL)"


def secrets_of(url: str) -> list[str]:
    """The parts of a URL that must not be shown: the URL itself, userinfo (and its Basic
    credentials), path, path segments, query and its values (and their percent-encoded and decoded
    forms), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url] if url else []
    found = {url, url.split("#")[0]}
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        found.update({userinfo, *userinfo.split(":", 1)})
        # As the HTTP client sends it: "Authorization: Basic base64(user:password)".
        found.add(base64.b64encode(unquote(userinfo).encode()).decode())
    if parts.path not in ("", "/"):
        found.add(parts.path)
        found.update(s for s in parts.path.split("/") if s)
    if parts.query:
        found.add(parts.query)
        for pair in parts.query.split("&"):
            found.update(p for p in pair.split("=", 1) if p)
    if parts.fragment:
        found.add(parts.fragment)
    found.update([form for s in list(found) for form in (unquote(s), quote(s, safe=""), quote(s))])
    # Very short pieces ("v1", "a") are no secret and would shred the text.
    return sorted((s for s in found if len(s) >= 4 or s == url), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with every occurrence of the URL, its userinfo, path and query replaced by ``***``
    (for texts a server or a library wrote: they may echo the URL)."""
    for piece in secrets_of(url):
        text = text.replace(piece, "***")
    return text


# --------------------------------------------------------------------------------------- allowlist


@dataclass(frozen=True)
class Pattern:
    text: str
    suffix: str | None = None  # "*.svc" -> ".svc"
    exact: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None
    anything: bool = False

    def matches(self, target: Endpoint) -> bool:
        if self.port is not None and self.port != target.port:
            return False
        if self.anything:
            return True
        if self.network is not None:
            return target.address is not None and target.address in self.network
        if target.address is not None:
            return False  # an address matches address patterns only
        if self.suffix is not None:
            return target.host.endswith(self.suffix)
        return target.host == self.exact


def parse_patterns(items: str | Iterable[str]) -> tuple[Pattern, ...]:
    """Allowlist patterns from a comma-separated text or a list; ValueError naming a bad one."""
    texts = items.split(",") if isinstance(items, str) else list(items)
    return tuple(_pattern(t.strip()) for t in texts if t.strip())


@lru_cache(maxsize=64)
def _pattern(text: str) -> Pattern:
    bad = ValueError(
        f"egress allowlist pattern {text!r} is not a host (hooks.slack.com), a wildcard (*.svc), "
        "an address or network (10.0.0.0/8, [fd00::1]), optionally with :PORT, or *"
    )
    body, port = text.lower(), None
    if body.startswith("["):
        end = body.find("]")
        if end < 0:
            raise bad
        rest = body[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise bad
            port = _port(rest[1:], bad)
        body = body[1:end]
    elif body.count(":") == 1:
        body, port_text = body.split(":")
        port = _port(port_text, bad)
    if body == "*":
        return Pattern(text, anything=True, port=port)
    if "/" in body or ":" in body or _looks_numeric(body):
        try:
            network = ipaddress.ip_network(body, strict=True)
        except ValueError:
            raise bad from None
        return Pattern(text, network=network, port=port)
    if body.startswith("*."):
        if not _HOSTNAME.match(body[2:]):
            raise bad
        return Pattern(text, suffix=body[1:], port=port)
    body = body.removesuffix(".")
    if not _HOSTNAME.match(body):
        raise bad
    return Pattern(text, exact=body, port=port)


def _looks_numeric(body: str) -> bool:
    return bool(_NUMERIC_LABEL.match(body.rsplit(".", 1)[-1]))


def _port(text: str, bad: ValueError) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise bad
    return int(text)


def refusal(url: str, patterns: Iterable[Pattern], *, field: str) -> str | None:
    """Why the operator must not send a request to ``url`` (named by ``field`` in the message), or
    None when it may: an http(s) URL whose host the allowlist admits (an empty allowlist admits all)."""
    try:
        target = endpoint(url)
    except URLRefused as exc:
        return f"{field}: {exc}"
    allow = tuple(patterns)
    if allow and not any(p.matches(target) for p in allow):
        return (
            f"{field}: {target.shown()} is not in the operator's egress allowlist "
            f"({', '.join(p.text for p in allow)}); add its host to the chart value operator.egressAllow"
        )
    return None
