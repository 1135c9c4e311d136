"""Local HTTP servers that behave like the Telegram Bot API and the WhatsApp Cloud API as documented:
each records the requests it gets and answers with success, or with the next scripted answer (a 429
with retry_after / Retry-After, 400/403 with the services' own error shapes, a 502 while "down")."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers import free_port

TELEGRAM_BLOCKED = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
TELEGRAM_CHAT_NOT_FOUND = (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
TELEGRAM_DOWN = (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})


def telegram_too_many(seconds: int) -> tuple[int, dict[str, Any]]:
    return 429, {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {seconds}",
        "parameters": {"retry_after": seconds},
    }


def whatsapp_error(status: int, code: int, message: str, details: str = "") -> tuple[int, dict[str, Any]]:
    """The Graph API's error object, as the Cloud API returns it."""
    return status, {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or message},
            "fbtrace_id": "AbCdEf123",
        }
    }


WHATSAPP_NOT_ON_WHATSAPP = whatsapp_error(400, 131026, "Message undeliverable", "Unable to deliver message.")
WHATSAPP_TEMPLATE_MISSING = whatsapp_error(
    404, 132001, "Template name does not exist in the translation", "template name (crisis_notice) does not exist in id"
)
WHATSAPP_DOWN = whatsapp_error(503, 2, "Service temporarily unavailable")


class FakeApi:
    """A threaded HTTP server on 127.0.0.1 and a random port. `script`: answers to give, in order, to
    the requests that would otherwise succeed (status, body[, headers])."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw) if raw else {}
                with fake.lock:
                    record = {"path": self.path, "headers": dict(self.headers), "json": body}
                    answer = fake.script.pop(0) if fake.script else fake.success(self.path, body)
                    record["status"] = answer[0]
                    fake.requests.append(record)
                status, payload, *rest = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (rest[0] if rest else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def success(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self, suffix: str = "") -> list[dict[str, Any]]:
        """Requests that were answered with success (and end with `suffix`)."""
        with self.lock:
            return [r for r in self.requests if r["status"] == 200 and r["path"].endswith(suffix)]


class FakeTelegram(FakeApi):
    TOKEN = "123456:TEST-token"  # noqa: S105

    def __init__(self) -> None:
        super().__init__()
        self.message_ids = 0

    def success(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not path.startswith(f"/bot{self.TOKEN}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path.rsplit("/", 1)[-1]
        if method in ("sendMessage", "editMessageText"):
            self.message_ids += 1
            message = {
                "message_id": body.get("message_id", self.message_ids),
                "date": 1765000000,
                "chat": {"id": int(body["chat_id"]), "type": "private"},
                "text": body.get("text", ""),
            }
            return 200, {"ok": True, "result": message}
        return 200, {"ok": True, "result": True}

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [r["json"] for r in self.accepted("/" + method)]


class FakeWhatsApp(FakeApi):
    TOKEN = "EAAG-test-token"  # noqa: S105
    PHONE_NUMBER_ID = "106540352242922"

    def __init__(self) -> None:
        super().__init__()
        self.sequence = 0

    def success(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != f"/{self.PHONE_NUMBER_ID}/messages":
            return whatsapp_error(400, 100, "Invalid parameter")
        self.sequence += 1
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": f"wamid.TEST{self.sequence:06d}"}],
        }

    def sent(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.accepted("/messages")]


def whatsapp_signature(secret: str, raw: bytes) -> str:
    """X-Hub-Signature-256 as Meta signs a webhook POST."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def whatsapp_envelope(value: dict[str, Any]) -> dict[str, Any]:
    """A messages-webhook body around one change value."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": FakeWhatsApp.PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
