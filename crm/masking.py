"""The one masker: secrets never leave the endpoint.

Text from or about an outbound request (the request and response excerpts,
an entry's reason and result, the "test with lead N" preview) passes
through a `Masker` before it is stored or shown. It replaces with "***":

- by name: the values of secret headers — Authorization, Proxy-Authorization,
  Cookie, Set-Cookie, any header whose name contains token, secret,
  password, passwd, key, signature, auth or credential (`X-Api-Key`,
  `X-Auth-Token` …; an `Idempotency-Key` is no secret), and every name in
  `header_names` (the headers an operator marks secret on an endpoint) —
  and the same for query parameters, plus every name in `query_names` (an
  endpoint's auth query); the password of a `user:password@` URL;
- as literals, wherever they appear (URL, headers, bodies, free text such as
  a partner's error message quoting them back): every string in `literals`
  of at least MIN_LITERAL characters, also URL-encoded (shorter ones would
  mangle the text: `account=7`; they are still masked by name).

`Masker.of(...)` builds one from what an endpoint sends: its signing
secret, auth query, headers and URL — so the values of its secret headers
and its URL password are literals too, with their token part (`Bearer T`
→ `T`, `session=S` → `S`) and the Basic credentials the URL's
user:password become.
"""

import base64
import contextlib
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

MASK = "***"
MIN_LITERAL = 4

SECRET_NAMES = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
SECRET_PARTS = ("token", "secret", "password", "passwd", "key", "signature", "auth", "credential")


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Is a header or query parameter of this name secret (by default, or marked so)?"""
    name = name.strip().lower()
    if name in {n.strip().lower() for n in extra}:
        return True
    if name.replace("_", "-").endswith("idempotency-key"):
        return False
    return name in SECRET_NAMES or any(part in name for part in SECRET_PARTS)


def url_password(url: str) -> tuple[str, str] | None:
    """(user, password) of a `user:password@host` URL, else None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.password is None:
        return None
    return unquote(parts.username or ""), unquote(parts.password)


def secret_parts(value: str) -> list[str]:
    """A secret header value and the parts a partner may quote alone: the token of
    `Bearer T`, the password of `Basic base64(user:pass)`, the values of `a=1; b=2`."""
    parts = [value]
    scheme, _, rest = value.strip().partition(" ")
    if rest.strip():
        parts.append(rest.strip())
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                parts.append(
                    base64.b64decode(rest.strip(), validate=True).decode().split(":", 1)[-1]
                )
    for piece in re.split(r"[;,]", value):
        _, eq, item = piece.strip().partition("=")
        if eq:
            parts.append(item.strip())
    return parts


class Masker:
    def __init__(
        self,
        literals: Iterable[str] = (),
        header_names: Iterable[str] = (),
        query_names: Iterable[str] = (),
    ):
        found = set()
        for secret in literals:
            if secret and len(secret) >= MIN_LITERAL:
                found |= {secret, quote(secret, safe=""), quote_plus(secret)}
        self.literals = sorted(found, key=len, reverse=True)  # longest first
        self.header_names = [n.lower() for n in header_names]
        self.query_names = [n.lower() for n in query_names]

    @classmethod
    def of(cls, *, secret="", auth_query="", headers=None, secret_headers=(), url="", extra=()):
        """The masker of what an endpoint sends (see the module docstring)."""
        literals = [secret, *extra]
        auth = parse_qsl((auth_query or "").strip().lstrip("?&"), keep_blank_values=True)
        literals += [value for _, value in auth]
        for name, value in (headers or {}).items():
            if isinstance(value, str) and is_secret_name(str(name), secret_headers):
                literals += secret_parts(value)
        credentials = url_password(url or "")
        if credentials:
            user, password = credentials
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            literals += [password, basic]
        return cls(literals, secret_headers, [name for name, _ in auth])

    def text(self, value: str) -> str:
        for literal in self.literals:
            value = value.replace(literal, MASK)
        return value

    def headers(self, headers: Mapping) -> dict:
        return {
            str(name): MASK
            if is_secret_name(str(name), self.header_names)
            else self.text(str(value))
            for name, value in headers.items()
        }

    def url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
        query = "&".join(
            f"{name}={MASK}"
            if eq and is_secret_name(unquote_plus(name), self.query_names)
            else f"{name}{eq}{value}"
            for name, eq, value in (piece.partition("=") for piece in parts.query.split("&"))
        )
        return self.text(parts._replace(netloc=netloc, query=query).geturl())

    def value(self, value, key=""):
        """Any JSON-like value: strings masked, `url` and `headers` keys by their rules."""
        if isinstance(value, str):
            return self.url(value) if key == "url" else self.text(value)
        if isinstance(value, Mapping):
            if key == "headers":
                return self.headers(value)
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


NOTHING = Masker()
