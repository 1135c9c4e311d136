"""The peer of the load benchmark: the least a Flask endpoint on this stack can do.

One route, `POST /insert`: parse a JSON body, one INSERT into its own table in the same PostgreSQL
database (SQLAlchemy engine with the app's pool settings, crisis.extensions.ping_when_idle; psycopg 3),
answer 201 with the new id. Its batch twin, `POST /insert-batch` (`{"items": [...]}`), writes every
item with one multi-row INSERT and answers their ids: the peer of POST /api/v1/issues/batch.
Served by gunicorn with exactly the app's settings, so app ÷ peer is the overhead of the app itself.

    PEER_DATABASE_URL=postgresql+psycopg://... gunicorn --chdir benchmarks/load peer:app

The table (`load_peer_event`) is created by benchmarks/load/run.py before the peer starts.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

from crisis.extensions import ping_when_idle

engine = create_engine(os.environ["PEER_DATABASE_URL"])
ping_when_idle(engine)
app = Flask(__name__)


@app.post("/insert")
def insert() -> Any:
    data = request.get_json(force=True, silent=True) or {}
    with engine.begin() as conn:
        new_id = conn.execute(
            text("INSERT INTO load_peer_event (title, payload) VALUES (:title, :payload) RETURNING id"),
            {"title": str(data.get("title", ""))[:300], "payload": json.dumps(data)},
        ).scalar_one()
    return jsonify(id=new_id), 201


@app.post("/insert-batch")
def insert_batch() -> Any:
    items = (request.get_json(force=True, silent=True) or {}).get("items") or []
    with engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "INSERT INTO load_peer_event (title, payload) "
                    "SELECT * FROM unnest(CAST(:titles AS text[]), CAST(:payloads AS text[])) RETURNING id"
                ),
                {
                    "titles": [str(item.get("title", ""))[:300] for item in items],
                    "payloads": [json.dumps(item) for item in items],
                },
            )
            .scalars()
            .all()
        )
    return jsonify(ids=ids), 201


@app.get("/healthz")
def healthz() -> Any:
    return "ok"
