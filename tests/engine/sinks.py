"""Real receivers on loopback: an SMTP server (aiosmtpd) and a webhook endpoint (http.server).
Each records what arrived, with the arrival time, so tests assert the exact set received."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


class SmtpRecorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        # While set to an unset Event, every conversation stalls at RCPT (a slow mail server).
        self.hold: threading.Event | None = None
        self.stalled = threading.Event()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        hold = self.hold
        if hold is not None:
            self.stalled.set()
            while not hold.is_set():
                await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.time()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "arrived": arrived,
            "to": list(envelope.rcpt_tos),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "notice_id": int(message["X-Crisis-Notice"]) if message["X-Crisis-Notice"] else None,
            "key": str(message["X-Crisis-Idempotency-Key"]),
            "message": message,
        }
        with self.lock:
            self.messages.append(record)
        return "250 Message accepted for delivery"

    def keys(self) -> list[str]:
        with self.lock:
            return [m["key"] for m in self.messages]


class SmtpSink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.recorder = SmtpRecorder()
        self.controller: Controller | None = None

    def start(self) -> SmtpSink:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.recorder.messages

    def keys(self) -> list[str]:
        return self.recorder.keys()


class WebhookSink:
    """Answers each POST with the next status in `statuses` (200 once they run out)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    status = sink.statuses.pop(0) if sink.statuses else 200
                    if status == 200:
                        sink.received.append(
                            {
                                "headers": dict(self.headers),
                                "body": body,
                                "json": json.loads(body),
                                "arrived": time.time(),
                            }
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        with self.lock:
            return [r["json"]["idempotency_key"] for r in self.received]
