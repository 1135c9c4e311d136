"""Stage SLA compliance: per stage, and as a heat map of stages by unit, from the per-position stage
bits of the precomputed measure rows (crisis.reports.models.IncidentMeasure)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Integer, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crisis.playbooks.models import PlaybookVersion
from crisis.reports.measures import is_postgresql
from crisis.reports.models import IncidentMeasure
from crisis.reports.quantiles import Share
from crisis.reports.scope import Filters, scope_conditions

StageId = tuple[str, str]  # (playbook key, stage key): a stage key alone is shared by several SOPs


def stage_titles(session: Session, lang: str) -> dict[StageId, tuple[int, str, str]]:
    """(playbook key, stage key) -> (position, stage title, playbook title) in lang, from every
    published playbook version (a small table; a later version's titles win). Stages are told apart
    by their SOP: the hoax SOP's "monitor" is not the viral-complaint SOP's."""
    titles: dict[StageId, tuple[int, str, str]] = {}
    if is_postgresql(session):  # the stages' keys and titles only, not every version's whole document as Python objects
        rows = session.execute(
            sa.text(
                "SELECT playbook_version.canonical ->> 'key', playbook_version.canonical -> 'title' ->> :lang,"
                " stage.position - 1, stage.value ->> 'key', stage.value -> 'title' ->> :lang"
                " FROM playbook_version, json_array_elements(playbook_version.canonical -> 'stages')"
                " WITH ORDINALITY AS stage(value, position) ORDER BY playbook_version.id, stage.position"
            ),
            {"lang": lang},
        )
        for playbook, playbook_title, position, key, title in rows:
            titles[(playbook, key)] = (position, title, playbook_title)
        return titles
    for canonical in session.scalars(select(PlaybookVersion.canonical).order_by(PlaybookVersion.id)):
        for position, stage in enumerate(canonical["stages"]):
            titles[(canonical["key"], stage["key"])] = (position, stage["title"][lang], canonical["title"][lang])
    return titles


def stage_groups(
    session: Session, f: Filters, rollup: dict[int, int], width: int
) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Incidents per state (cancelled ones too), and per (heat-map row, playbook, stage keys) of the
    measured incidents: the playbook, the keys, and judged, met and breached counts per stage
    position (a list each), from
    one grouping of the measures rows (a few hundred groups: the rows are the view's top units).
    `width`: the most stages a playbook version has; a row with more stages widens it, and the
    query runs again. (Stage positions run 0, 1, 2 ... as the playbook lists them: key i is bit i.)"""
    im = IncidentMeasure
    pairs = sorted(rollup.items())
    if is_postgresql(session):  # two array parameters, not 2 x 500 (binding each costs more than the query)
        heat_rows = select(
            *(
                func.unnest(sa.literal([pair[i] for pair in pairs], ARRAY(Integer))).label(name)
                for i, name in enumerate(("unit_id", "row_id"))
            )
        ).cte("heat_row")
    else:
        heat_rows = (
            sa.values(sa.column("unit_id", Integer), sa.column("row_id", Integer), name="heat_row")
            .data(pairs)
            .cte("heat_row")
        )
    states = ("active", "resolved", "closed", "cancelled")
    per_state = [func.count().filter(im.state == state).label(f"n_{state}") for state in states]
    bits = [  # a cancelled incident's bits are 0 (crisis.reports.models.IncidentMeasure)
        func.count().filter(mask.op("&")(literal_column(str(1 << position))) != 0).label(f"b{index}_{position}")
        for index, mask in enumerate((im.stages_judged, im.stages_met, im.stages_breached))
        for position in range(width)
    ]
    # First per (unit, stage keys): the covering index on (unit_id, stage_keys) hands the rows over in
    # that order (a streamed grouping), then per heat-map row.
    per_unit = (
        select(
            im.unit_id, im.stage_keys, im.playbook_key, func.max(im.stages_judged).label("widest"), *per_state, *bits
        )
        .where(*scope_conditions(f))
        .group_by(im.unit_id, im.stage_keys, im.playbook_key)
        .subquery("per_unit")
    )
    counted = [column for column in per_unit.c if column.name.startswith(("n_", "b"))]
    query = (
        select(
            heat_rows.c.row_id,
            per_unit.c.playbook_key,
            per_unit.c.stage_keys,
            func.max(per_unit.c.widest),
            *(cast(func.sum(column), BigInteger) for column in counted),
        )
        .join(heat_rows, heat_rows.c.unit_id == per_unit.c.unit_id)
        .group_by(heat_rows.c.row_id, per_unit.c.playbook_key, per_unit.c.stage_keys)
    )
    counts = dict.fromkeys(states, 0)
    groups = []
    for row_id, playbook, keys, widest, *sums in session.execute(query):
        stage_keys = keys.split(" ") if keys else []
        if len(stage_keys) > width or (widest or 0) >> width:
            return stage_groups(session, f, rollup, max(len(stage_keys), int(widest or 0).bit_length()))
        for state, n in zip(states, sums, strict=False):
            counts[state] += n
        if not stage_keys or sums[0] + sums[1] + sums[2] == 0:  # no stages, or only cancelled incidents
            continue
        judged, met, breached = (sums[4 + i * width : 4 + i * width + len(stage_keys)] for i in range(3))
        groups.append((row_id, playbook, stage_keys, judged, met, breached))
    return counts, groups


def stage_tables(
    groups: list[tuple[Any, ...]], titles: dict[StageId, tuple[int, str, str]], units_by_id: dict[int, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-stage table and the heat map (rows: the view's units, columns: stages by playbook, in
    playbook order) from `stage_groups`. A stage is its playbook's: two SOPs' stages of one key are
    two rows, each titled with its SOP's name."""
    per_stage: dict[StageId, list[int]] = defaultdict(lambda: [0, 0, 0])
    positions: dict[StageId, int] = {}
    heat: dict[int, dict[StageId, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # judged, breached
    for heat_row, playbook, keys, judged, met, breached in groups:
        row = heat[heat_row]
        for position, key in enumerate(keys):
            stage = (playbook, key)
            totals = per_stage[stage]
            totals[0] += judged[position]
            totals[1] += met[position]
            totals[2] += breached[position]
            positions[stage] = min(positions.get(stage, position), position)
            cell = row[stage]
            cell[0] += judged[position]
            cell[1] += breached[position]

    def described(stage: StageId) -> dict[str, Any]:
        position, title, playbook_title = titles.get(stage, (positions[stage], stage[1], stage[0]))
        return {"playbook": stage[0], "playbook_title": playbook_title, "key": stage[1], "title": title}

    stage_order = sorted(
        per_stage, key=lambda k: (titles.get(k, (0, "", k[0]))[2], k[0], titles.get(k, (positions[k],))[0], k[1])
    )
    stages = [
        described(k)
        | {
            "judged": per_stage[k][0],
            "met": per_stage[k][1],
            "breached": per_stage[k][2],
            "not_met": per_stage[k][0] - per_stage[k][1],
            "share": Share(per_stage[k][0], per_stage[k][1]).share,
        }
        for k in stage_order
    ]
    heatmap = {
        "stages": [described(k) for k in stage_order],
        "rows": [
            {
                "unit": units_by_id[uid],
                "cells": [heat_cell(*heat[uid][k]) if k in heat[uid] else None for k in stage_order],
            }
            for uid in sorted(heat, key=lambda uid: units_by_id[uid].code)
        ],
    }
    return stages, heatmap


def heat_cell(judged: int, breached: int) -> dict[str, Any] | None:
    """A heat-map cell: breaches out of the stages judged, and its colour level 0-4 (none when nothing
    was judged)."""
    if not judged:
        return None
    share = breached / judged
    return {"judged": judged, "breached": breached, "share": share, "level": math.ceil(share * 4)}
