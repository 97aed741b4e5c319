"""Is a browser request from this site? The check that guards cookie logins.

`POST /api/session/guest` logs a browser in (it sets the session cookie),
and it cannot ask for a CSRF token, since a visitor who has no session has
none yet. Without a check, a foreign page could post a form to it and swap a
visitor's session for one the page chose (login CSRF). Browsers send
`Origin` on every POST (and `Referer` unless told not to), so:

- `Origin` present: it must be this site's own origin;
- no `Origin` but `Referer` present: the Referer's scheme, host and port must
  be this site's;
- neither: allowed. Non-browser clients (curl, bots) send neither, and a
  browser never omits both on a cross-site POST.

"This site's origin" is the request's own scheme and `Host` (which Django
has already checked against ALLOWED_HOSTS), compared as (scheme, host, port)
with default ports filled in: `http://h` equals `http://h:80`, but
`http://h:9000`, `https://h`, `http://h.evil.example` and
`http://h@evil.example` are all foreign, and `Origin: null` (sandboxed
frames, privacy redirects) is foreign too. It is the same comparison
Django's CSRF middleware makes on every other cookie-authenticated POST.
Behind a reverse proxy, the proxy must pass the browser's `Host` unchanged
(gameserver/deploy/nginx.conf sends `$http_host`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an Origin or Referer value; None if it is not a web origin."""
    value = value.strip()
    if not value or len(value) > 2048 or value == "null":
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or DEFAULT_PORTS[scheme]


def own_origin(request: HttpRequest) -> Origin | None:
    """(scheme, host, port) of this request as the browser addressed it."""
    scheme = "https" if request.is_secure() else "http"
    return parse_origin(f"{scheme}://{request.get_host()}")


def foreign_origin(request: HttpRequest) -> str | None:
    """The offending `Origin` (or `Referer`) if the request comes from another site, else None.

    None means: same origin, or the request sent neither header.
    """
    claimed = request.headers.get("Origin")
    if claimed is None:
        claimed = request.headers.get("Referer")
    if claimed is None:
        return None
    given = parse_origin(claimed)
    if given is not None and given == own_origin(request):
        return None
    return claimed[:200]
