"""Serving the app: gunicorn's settings in production (`gunicorn -c python:crisis.serving
crisis.wsgi:app`, as the image runs it) and, for both servers, the answer to what a server refuses
before the app sees a request.

gunicorn refuses a request line over `limit_request_line`, headers over `limit_request_fields` or
`limit_request_field_size`, and text that is not HTTP, with an HTML page of its own; werkzeug's
server (`crisis run`) does the same past 65,536 characters. Both answer here as the app does:
application/problem+json, in the default language (no header has been read), with the status and
the reason. The request line limit is gunicorn's largest (8190; 0 would read a line of any length
into memory), above the app's own CRISIS_MAX_URL_LENGTH, so an address the app can still read is
refused by the app (414, documented on every operation) and only what gunicorn cannot read is
refused here.
"""

from __future__ import annotations

import http.client
import json
from datetime import datetime
from http import HTTPStatus
from typing import Any

from flask import Flask
from flask_babel import format_decimal
from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.serving import WSGIRequestHandler

from crisis.guards import url_too_long
from crisis.http import PROBLEM_JSON
from crisis.i18n import _

# --- gunicorn's settings (this module is its configuration file) --------------------------------

worker_class = "crisis.serving.ProblemWorker"  # gthread, answering its own refusals as problem+json
threads = 2  # WEB_CONCURRENCY workers of 2 threads: what served the most in benchmarks/load
accesslog = "-"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# What gunicorn refuses as the client's fault, by the status it answers (an invalid *response*
# header is the app's fault: gunicorn's own 500 stays).
_NOT_HTTP = tuple(
    getattr(errors, name)
    for name in (
        "InvalidRequestLine",
        "InvalidRequestMethod",
        "InvalidHTTPVersion",
        "InvalidHeader",
        "InvalidHeaderName",
        "ObsoleteFolding",
        "InvalidChunkSize",
        "ChunkMissingTerminator",
        "InvalidChunkExtension",
        "InvalidSchemeHeaders",
        "InvalidProxyLine",
        "InvalidH2CPreface",
    )
    if hasattr(errors, name)
)
_APPS_FAULT = tuple(
    getattr(errors, name) for name in ("InvalidResponseHeader", "InvalidResponseHeaderName") if hasattr(errors, name)
)


def refusal(app: Any, status: int, *, header_count: int, header_size: int) -> bytes:
    """The problem+json body of a server's own refusal, in the app's default language."""
    if isinstance(app, Flask):
        with app.app_context():
            return _refusal(status, app.config["MAX_URL_LENGTH"], header_count, header_size)
    return _refusal(status, None, header_count, header_size)


def _refusal(status: int, url_limit: int | None, header_count: int, header_size: int) -> bytes:
    if status == HTTPStatus.REQUEST_URI_TOO_LONG and url_limit is not None:
        detail = url_too_long(url_limit)
    elif status == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
        detail = _(
            "The request headers are too large: at most %(count)s headers of at most %(size)s characters each.",
            count=format_decimal(header_count),
            size=format_decimal(header_size),
        )
    elif status == HTTPStatus.BAD_REQUEST:
        detail = _("This request is not valid HTTP.")
    else:
        detail = _("The server cannot handle this request.")
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body, ensure_ascii=False).encode()


def _response(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Connection: close\r\nContent-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ProblemWorker(ThreadWorker):
    """gunicorn's gthread worker; what it refuses before the app sees a request is problem+json."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if isinstance(exc, errors.LimitRequestLine):
            status = HTTPStatus.REQUEST_URI_TOO_LONG
        elif isinstance(exc, errors.LimitRequestHeaders):
            status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        elif isinstance(exc, _NOT_HTTP) and not isinstance(exc, _APPS_FAULT):
            status = HTTPStatus.BAD_REQUEST
        else:
            super().handle_error(req, client, addr, exc)
            return
        started = datetime.now()
        addr = addr or ("", -1)  # a unix socket
        self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
        body = refusal(
            self.wsgi,
            status,
            header_count=self.cfg.limit_request_fields or 32768,
            header_size=self.cfg.limit_request_field_size or 8190,
        )
        if req is not None:  # the access log, as gunicorn writes it for its own refusals
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            response = Response(req, client, self.cfg)
            response.status = f"{int(status)} {status.phrase}"
            response.response_length = len(body)
            self.log.access(response, req, environ, datetime.now() - started)
        try:
            util.write_nonblock(client, _response(status, body))
        except OSError:
            self.log.debug("Failed to send error message.")


class ProblemRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler (`crisis run`); what http.server refuses itself is problem+json."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.log_error("code %d, message %s", code, message)
        body = refusal(
            self.server.app,  # type: ignore[attr-defined]
            code,
            header_count=getattr(http.client, "_MAXHEADERS", 100),
            header_size=getattr(http.client, "_MAXLINE", 65536),
        )
        if self.request_version == "HTTP/0.9":  # a line that is not HTTP/1.x: answer with a status line all the same
            self.request_version = "HTTP/1.0"
        self.send_response(code, HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else message)
        self.send_header("Content-Type", PROBLEM_JSON)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)
        self.close_connection = True
