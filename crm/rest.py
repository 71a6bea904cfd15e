"""The API's edge (REST_FRAMEWORK settings point here): what a request may carry.

- `JSONParser`: a body of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, nested at
  most MAX_JSON_DEPTH levels (checked on the raw text, before Python's
  recursive parser sees it), with no NUL or lone surrogate in any key or
  string. A bad body is a 400 naming the path of the bad value
  (`{"custom_fields.note": ["contains a NUL character"]}`).
- `FormParser`: the same size bound (DRF reads the stream itself, so Django's
  own check never runs for it).
- `exception_handler`: Django's body limits (RequestDataTooBig …) as a JSON
  error naming the body, like the parsers'.
- `TokenAuthentication`: a token that could not be a token (NUL, too long) is
  refused before it reaches the database.
- `LimitOffsetPagination`: every list pages, `limit` capped at MAX_PAGE_SIZE,
  `limit`/`offset` read as ASCII whole numbers (400 naming the parameter).
- `DateCursorPagination`: cursor pages over a datetime ordering; a forged
  cursor is "Invalid cursor" (404), never a database error.
"""

import json
from base64 import b64decode
from urllib import parse

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import QueryDict
from django.utils.dateparse import parse_datetime
from rest_framework import authentication, exceptions, pagination, parsers, status
from rest_framework.exceptions import ValidationError

from crm.validation import (
    MAX_ID,
    MAX_JSON_DEPTH,
    Invalid,
    check_datetime,
    json_depth_exceeds,
    json_problems,
    parse_int,
    text_problem,
)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def read_bounded(stream):
    """The body's bytes, or BodyTooLarge past DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge({"body": [f"is larger than {limit} bytes"]})
    return raw


def bad_body(message):
    return exceptions.ParseError({"body": [message]})


def _no_constants(name):
    raise ValueError(f"{name} is not a JSON number")


class JSONParser(parsers.JSONParser):
    """JSON within size and depth limits, with no NUL or lone surrogate anywhere."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = read_bounded(stream)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise bad_body(f"is not {encoding} text") from None
        if json_depth_exceeds(text, MAX_JSON_DEPTH):
            raise bad_body(f"nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            data = json.loads(text, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise bad_body(f"is not valid JSON: {exc}") from None
        problems = json_problems(data)
        if problems:
            raise exceptions.ParseError({path: [problem] for path, problem in problems.items()})
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        return QueryDict(read_bounded(stream), encoding=encoding)


def exception_handler(exc, context):
    """DRF's, plus: Django's own body limits are the body's fault, said in JSON."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = BodyTooLarge({"body": [f"is larger than {limit} bytes"]})
    elif isinstance(exc, TooManyFieldsSent):
        exc = bad_body("has too many fields")
    # Imported here: rest_framework.views reads DEFAULT_AUTHENTICATION_CLASSES
    # (this module) while it loads, so a module-level import is a cycle that
    # breaks whichever process touches a REST_FRAMEWORK setting first (a
    # system check runs in no fixed order).
    from rest_framework import views

    return views.exception_handler(exc, context)


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        if len(key) > 100 or text_problem(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


def query_int(request, name, minimum, maximum=MAX_ID):
    """An integer query parameter, None when absent; 400 naming it when not a number.

    `maximum=None`: any size (a page size is capped by the caller, not refused).
    """
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_int(raw, name, minimum, maximum)
    except Invalid as exc:
        raise ValidationError({name: [exc.message]}) from None


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """?limit= (1 … MAX_PAGE_SIZE; more is capped) and ?offset=; answers count/next/previous/results."""

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request):
        limit = query_int(request, self.limit_query_param, 1, maximum=None)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return query_int(request, self.offset_query_param, 0) or 0


class DateCursorPagination(pagination.CursorPagination):
    """Cursor pages (no COUNT(*)) over a datetime ordering; `limit` capped at MAX_PAGE_SIZE."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        size = query_int(request, self.page_size_query_param, 1, maximum=None)
        return self.page_size if size is None else min(size, self.max_page_size)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None:
            # The position is compared with a datetime column: it must be one.
            try:
                tokens = parse.parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"))
            except (TypeError, ValueError, UnicodeError):
                raise exceptions.NotFound(self.invalid_cursor_message) from None
            position = tokens.get("p", [None])[0]
            if position is not None and not _is_datetime(position):
                raise exceptions.NotFound(self.invalid_cursor_message)
        return super().decode_cursor(request)


def _is_datetime(text):
    try:
        value = parse_datetime(text)
        return value is not None and bool(check_datetime(value))
    except (ValueError, Invalid):
        return False
