"""Which requests a local server answers: only those addressed to it by name, from its own page or from no page.

`videoflow serve` and the local S3 (the moto server the page uploads to) listen on 127.0.0.1,
which any web page the user has open can also send requests to. Three checks keep those pages out:

- Host: the request must name this server (127.0.0.1:PORT or localhost:PORT). A page on
  attacker.example whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends
  `Host: attacker.example:PORT` and is refused, so it can never read an answer.
- Origin: a browser names the page behind every cross-origin request and every POST; it must
  be one of this server's own pages. `null` (a sandboxed frame, a file) is refused too.
- Sec-Fetch-Site: a browser marks a request another site's page made as `cross-site` even where
  it sends no Origin (an <img>, a <video>, a plain link's GET); those are refused, except opening
  the page itself from a link (a top-level navigation).

A request with neither Origin nor Sec-Fetch-Site comes from no browser page (curl, boto3, the
container processes) and is answered, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
_CONTENT_LENGTH = re.compile(r"^[0-9]{1,18}$")


class BadContentLength(ValueError):
    pass


@dataclass
class OriginPolicy:
    """The names this server answers to and the page origins it serves (both without a trailing slash)."""

    hosts: set[str] = field(default_factory=set)  # "127.0.0.1:8000"
    origins: set[str] = field(default_factory=set)  # "http://127.0.0.1:8000"

    @classmethod
    def loopback(cls, host: str, port: int, origins: Iterable[str] = ()) -> OriginPolicy:
        names = set(LOOPBACK_NAMES) | {host} if host in LOOPBACK_NAMES else {host}
        return cls(hosts={f"{name}:{port}" for name in names}, origins=set(origins))

    def allow_origins(self, origins: Iterable[str]) -> None:
        self.origins |= {origin.rstrip("/") for origin in origins}

    def refusal(self, method: str, headers: Mapping[str, str], *, page: bool = False) -> str | None:
        """Why this request is refused, or None. `page`: the request opens a page a link may lead to."""
        host = (_header(headers, "Host") or "").strip().lower()
        if host not in self.hosts:
            return f"This server answers only to {', '.join(sorted(self.hosts))}, not to Host {host[:100]!r}."
        origin = _header(headers, "Origin")
        if origin is not None and origin.strip().rstrip("/") not in self.origins:
            return f"Requests from the page {origin[:100]!r} are not allowed."
        site = (_header(headers, "Sec-Fetch-Site") or "").strip().lower()
        navigation = (_header(headers, "Sec-Fetch-Mode") or "").strip().lower() == "navigate"
        if site == "cross-site" and not (page and navigation and method in ("GET", "HEAD")):
            return "Requests made by another site's page are not allowed."
        if site and origin is None and method not in ("GET", "HEAD", "OPTIONS"):
            return "A browser request that changes something must name its page (Origin)."
        return None


def content_length(values: list[str]) -> int:
    """The one Content-Length of a request (0 when absent); anything ambiguous or malformed is refused."""
    if not values:
        return 0
    distinct = {value.strip() for value in values}
    if len(distinct) != 1:
        raise BadContentLength("Conflicting Content-Length headers.")
    (value,) = distinct
    if not _CONTENT_LENGTH.match(value):
        raise BadContentLength(f"Content-Length must be a whole number of bytes, not {value[:40]!r}.")
    return int(value)


def guard_wsgi(app: Callable, policy: OriginPolicy) -> Callable:
    """A WSGI app that answers 403 (JSON) to the requests `policy` refuses and passes the rest to `app`."""

    def guarded(environ, start_response):
        headers = {name[5:].replace("_", "-"): value for name, value in environ.items() if name.startswith("HTTP_")}
        reason = policy.refusal(environ.get("REQUEST_METHOD", "GET"), headers)
        if reason is None:
            return app(environ, start_response)
        body = json.dumps({"message": reason}).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                         ("Connection", "close")])
        return [body]

    return guarded


def guard_moto_server(server, origins: Iterable[str] = ()) -> OriginPolicy:
    """Put `OriginPolicy` in front of a started moto.server.ThreadedMotoServer (its werkzeug server's app).

    moto's server answers every origin (it enables CORS for all); after this it answers only its
    own names and the pages named in the returned policy (`allow_origins`).
    """
    host, port = server.get_host_and_port()
    policy = OriginPolicy.loopback(host, port, origins)
    wsgi_server = server._server  # moto keeps its werkzeug server here; requests read `server.app` each time
    wsgi_server.app = guard_wsgi(wsgi_server.app, policy)
    return policy


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        value = next((found for key, found in headers.items() if key.lower() == name.lower()), None)
    return value

