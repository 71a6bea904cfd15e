"""Endpoint and adaptor settings: what makes them valid, and how they are shown
(secret values masked, and restored when sent back masked).

The admin's rows (automation.document.rows), the API and the executor read
them through these; nothing here sends anything.
"""

import re
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

from automation.document.schema import ConfigError, join
from crm.masking import MASK, Masker, url_password
from leads.models import Lead, unknown_field
from leads.placeholders import CALL_FIELDS

# --- The request -------------------------------------------------------------------------


ADAPTOR_KEYS = ("source", "to", "default", "date_format")
SPECIAL_SOURCES = (
    "status_name", "list_name", "campaign", "agent", "workflow", "workflow.name", "workflow.id",
)  # fmt: skip
BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CUSTOM_NAME = re.compile(r"^custom\.[A-Za-z_][A-Za-z0-9_]*$")
DESTINATION_KEY = re.compile(r"^[^\s,]{1,100}$")
STRFTIME_DIRECTIVES = set("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
RESERVED_HEADERS = ("host", "content-length", "transfer-encoding", "connection")


def check_source(source):
    if source in Lead.CONDITION_FIELDS or source in SPECIAL_SOURCES:
        return ""
    if source.startswith("call."):
        if source[5:] in CALL_FIELDS:
            return ""
        return f"{source!r} is not a call field: use one of {', '.join(CALL_FIELDS)}"
    if BARE_NAME.match(source) or CUSTOM_NAME.match(source):
        return unknown_field(source) or ""  # a declared custom field
    return f"{source!r} is not a lead field, custom field, call.<field> or workflow value"


def check_date_format(text):
    index = 0
    while index < len(text):
        if text[index] == "%":
            code = text[index + 1 : index + 2]
            if code == "-":  # glibc's "no padding" flag: %-d
                code = text[index + 2 : index + 3]
                index += 1
            if code not in STRFTIME_DIRECTIVES:
                return f"%{code} is not a strftime directive" if code else "ends with a lone %"
            index += 2
        else:
            index += 1
    return ""


def clean_adaptor_fields(fields, path="fields"):
    """Validate an adaptor's mapping; raise ConfigError whose paths say which field is wrong."""
    if not isinstance(fields, list):
        raise ConfigError.at(path, "must be a list of {source, to, default, date_format} objects")
    errors, cleaned, fed = {}, [], {}
    for i, spec in enumerate(fields):
        here = join(path, i)
        if not isinstance(spec, dict):
            errors[here] = "must be an object with source and to"
            continue
        for unknown in sorted(set(spec) - set(ADAPTOR_KEYS)):
            errors[join(here, unknown)] = "unknown key"
        source, to = spec.get("source"), spec.get("to")
        if not isinstance(source, str) or not source.strip():
            errors[join(here, "source")] = "is required: a lead field, custom field or call.<field>"
        elif problem := check_source(source.strip()):
            errors[join(here, "source")] = problem
        if not isinstance(to, str) or not to.strip():
            errors[join(here, "to")] = "is required: the destination key(s), comma-separated"
        else:
            for key in destination_keys(to):
                if not DESTINATION_KEY.match(key):
                    errors[join(here, "to")] = f"{key!r} is not a key (1–100 characters, no spaces)"
                elif key in fed:
                    errors[join(here, "to")] = (
                        f"the key {key!r} is already fed by fields[{fed[key]}]"
                    )
                else:
                    fed[key] = i
        default = spec.get("default", "")
        if default is not None and not isinstance(default, str | int | float | bool):
            errors[join(here, "default")] = "must be a single value"
        date_format = spec.get("date_format", "")
        if date_format is None:
            date_format = ""
        if not isinstance(date_format, str) or len(date_format) > 100:
            errors[join(here, "date_format")] = "must be a strftime format such as %Y-%m-%d"
        elif problem := check_date_format(date_format):
            errors[join(here, "date_format")] = problem
        if not any(p.startswith(here) for p in errors):
            cleaned.append(
                {
                    "source": source.strip(),
                    "to": ",".join(destination_keys(to)),
                    "default": "" if default is None else default,
                    "date_format": date_format,
                }
            )
    if errors:
        raise ConfigError(errors)
    return cleaned


def clean_auth_query(value, path="auth_query"):
    """`name=value&name2=value2` (a leading ? or & is dropped), or ConfigError."""
    value = (value or "").strip().lstrip("?&")
    for piece in value.split("&") if value else ():
        name, eq, _ = piece.partition("=")
        if not name or not eq or any(c.isspace() for c in piece):
            raise ConfigError.at(
                path, f"{piece!r} is not name=value: write e.g. api_key=abc&account=7."
            )
    return value


def clean_headers(headers, path="headers"):
    """Validate an endpoint's extra headers: an object of header names to strings."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ConfigError.at(path, "must be an object of header names to string values")
    errors = {}
    for name, value in headers.items():
        here = f"{path}.{name}"
        if not HEADER_NAME.match(name):
            errors[here] = "is not a valid header name"
        elif name.lower() in RESERVED_HEADERS:
            errors[here] = "is set by the HTTP client and cannot be overridden"
        elif not isinstance(value, str):
            errors[here] = f"must be a string, not {type(value).__name__}"
        elif "\r" in value or "\n" in value:
            errors[here] = "may not contain line breaks"
    if errors:
        raise ConfigError(errors)
    return dict(headers)


def shown_settings(endpoint):
    """The endpoint's url, auth query and headers as shown back (API, admin form):
    every secret value as ***. `restore_masked` undoes it for what is sent back."""
    masker = endpoint_masker(endpoint)
    headers = endpoint.headers if isinstance(endpoint.headers, dict) else {}
    auth = parse_qsl(endpoint.auth_query.strip().lstrip("?&"), keep_blank_values=True)
    return {
        "url": masker.url(endpoint.url),
        "auth_query": "&".join(f"{name}={MASK}" for name, _ in auth),
        "headers": {name: masker.headers({name: value})[name] for name, value in headers.items()},
    }


def restore_masked(endpoint, url=None, auth_query=None, headers=None):
    """(url, auth_query, headers) with every *** put back to the stored value it stands for."""
    if url is not None and endpoint is not None:
        stored = url_password(endpoint.url)
        parts = urlsplit(url.strip())
        if stored and parts.password == MASK:
            netloc = parts.netloc.replace(f":{MASK}@", f":{quote(stored[1], safe='')}@", 1)
            url = urlunsplit(parts._replace(netloc=netloc))
    if auth_query is not None and endpoint is not None:
        stored = dict(parse_qsl(endpoint.auth_query.strip().lstrip("?&"), keep_blank_values=True))
        pieces = []
        for piece in auth_query.strip().lstrip("?&").split("&") if auth_query.strip() else ():
            name, eq, value = piece.partition("=")
            if value == MASK and name in stored:
                value = quote_plus(stored[name], safe="")
            pieces.append(f"{name}{eq}{value}")
        auth_query = "&".join(pieces)
    if isinstance(headers, dict) and endpoint is not None and isinstance(endpoint.headers, dict):
        headers = {
            name: endpoint.headers.get(name, value) if value == MASK else value
            for name, value in headers.items()
        }
    return url, auth_query, headers


def check_credentials(url, headers, path="url"):
    """A password in the URL and an Authorization header cannot both be sent: refuse the pair."""
    names = {str(n).lower() for n in headers} if isinstance(headers, dict) else set()
    if "authorization" in names and url_password(url or ""):
        raise ConfigError.at(
            path,
            "has a password and the headers an Authorization: only one can be sent "
            "(the URL's would silently replace the header); keep one",
        )


def clean_secret_headers(names, path="secret_headers"):
    """The header names an operator marks secret: a list of header names."""
    if names in (None, ""):
        return []
    if not isinstance(names, list) or not all(
        isinstance(n, str) and HEADER_NAME.match(n) for n in names
    ):
        raise ConfigError.at(path, 'must be a list of header names, e.g. ["X-Partner-Pin"]')
    return list(dict.fromkeys(names))


def destination_keys(to):
    return [key.strip() for key in to.split(",")]


def endpoint_masker(endpoint):
    """The one masker (crm.masking) of everything this endpoint sends."""
    return Masker.of(
        secret=endpoint.secret,
        auth_query=endpoint.auth_query,
        headers=endpoint.headers if isinstance(endpoint.headers, dict) else {},
        secret_headers=endpoint.secret_headers or (),
        url=endpoint.url,
    )
