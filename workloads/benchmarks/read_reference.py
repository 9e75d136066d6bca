"""The bare reference the read-path benchmark measures Pylon against: a WSGI app with no Django.

It does the job of ``GET /api/v1/workloads/``, ``GET /api/v1/notifications/`` and ``GET
/api/v1/scheduling/queue/`` by hand, honestly:
decodes the same JWT with the same key, audience and issuer (and simplejwt's checks: token type,
active user, revocation by password change), loads the user, applies the same scope (workloads: the
service role everything, an operator their organisation, a user their own rows; notifications:
everyone their own inbox), counts the rows in scope when the page counts (a first page; a cursor
page carries its count), reads the same page in the same order (a workload with the same owner and
the same five zone summaries, a notification with its workload's summary, a queue entry with its
options and outcome), and writes the same JSON with psycopg and orjson. The queue (operators and the
service role only; PENDING workloads, most urgent first: urgency, deadline with NULLs last,
submission, id) is paged by the same four-key cursor.

Only the benchmark serves it (under gunicorn, configured by the environment variables below); it is
not part of Pylon. It imports nothing from Pylon on purpose: it is what the job costs without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import orjson
import psycopg

DATABASE_URL = os.environ.get("READ_REFERENCE_DATABASE_URL", "")
JWT_KEY = os.environ.get("READ_REFERENCE_JWT_KEY", "")
JWT_AUDIENCE = os.environ.get("READ_REFERENCE_JWT_AUDIENCE", "")
JWT_ISSUER = os.environ.get("READ_REFERENCE_JWT_ISSUER", "")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 25, 100

ZONE_FIELDS = ("host_dc", "recommended_grid_zone", "recommended_2_grid_zone", "recommended_3_grid_zone")
COLUMNS = (
    "t.id, t.job_id, t.user_id, u.user_name, u.email, t.organization_id, t.status, t.workload_name, "
    "t.workload_type, t.urgency, t.host_dc_id, t.required_gpu_mins, t.required_cpu_cores, t.required_memory_gb, "
    "t.estimated_energy_kwh, t.estimated_duration_mins, t.carbon_cap_gco2, t.max_price_gbp, "
    "t.deferral_window_mins, t.deadline, t.is_deferrable, t.recommended_grid_zone_id, "
    "t.recommended_2_grid_zone_id, t.recommended_3_grid_zone_id, t.chosen_grid_zone_id, t.planned_start, "
    "t.actual_energy_kwh, t.carbon_emitted_kg, t.cost_gbp, t.baseline_carbon_kg, t.baseline_cost_gbp, "
    "t.submitted_at, t.actual_start, t.actual_end, t.updated_at"
)

_connection: psycopg.Connection | None = None


def _db() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(DATABASE_URL, autocommit=True)
    return _connection


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError


def _json(status: str, body, start_response):
    payload = orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z)
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _error(status: str, code: str, message: str, start_response):
    return _json(status, {"code": code, "message": message, "fields": {}}, start_response)


def _user(environ, cursor):
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims = jwt.decode(
            header[7:], JWT_KEY, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER, leeway=0
        )
    except jwt.PyJWTError:
        return None
    if claims.get("token_type") != "access" or "user_id" not in claims:
        return None
    cursor.execute(
        "SELECT id, password, is_active, is_staff, is_superuser, role, organization_id "
        "FROM accounts_user WHERE id = %s",
        (claims["user_id"],),
    )
    row = cursor.fetchone()
    if row is None or not row[2]:
        return None
    if claims.get("hash_password") != hashlib.md5(row[1].encode()).hexdigest().upper():  # noqa: S324 - simplejwt's claim
        return None
    return row


@dataclass(frozen=True)
class _List:
    """What differs between the lists the reference serves: table, scope, order and row shape."""

    table: str
    sql: str  # the page's SELECT … FROM table t JOIN …
    time: str  # the order's time column; the primary key breaks ties
    id_descending: bool
    scope: Callable[[tuple], tuple[str, tuple]]
    shape: Callable[[list[dict], Any], list[dict]]

    @property
    def label(self) -> str:
        return f"-{self.time},{'-' if self.id_descending else ''}id"


def _decode_cursor(raw: str) -> dict | None:
    try:
        cursor = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return {
            "at": datetime.fromisoformat(cursor["p"][0]),
            "id": uuid.UUID(cursor["p"][1]),
            "reverse": bool(cursor["r"]),
            "count": int(cursor["c"]),
            "order": cursor["o"],
        }
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, orjson.JSONDecodeError):
        return None


def encode_cursor(
    row, *, reverse: bool, count: int, time: str = "submitted_at", order: str = "-submitted_at,id"
) -> str:
    position = [row[time].isoformat(), str(row["id"])]
    raw = orjson.dumps({"o": order, "p": position, "r": int(reverse), "c": count})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _zones(cursor, ids: set) -> dict:
    ids.discard(None)
    cursor.execute("SELECT id, zone_id, zone_name, grid_zone_code FROM zones_gridzone WHERE id = ANY(%s)", (list(ids),))
    return {
        pk: {"id": pk, "zone_id": zone_id, "zone_name": name, "grid_zone_code": code}
        for pk, zone_id, name, code in cursor.fetchall()
    }


def _workload_zone_ids(rows: list[dict]) -> set:
    return {row[f"{field}_id"] for row in rows for field in (*ZONE_FIELDS, "chosen_grid_zone")}


def _workloads(rows: list[dict], cursor, zones: dict | None = None) -> list[dict]:
    zones = _zones(cursor, _workload_zone_ids(rows)) if zones is None else zones
    return [
        {
            "id": row["id"],
            "job_id": row["job_id"],
            "owner": {"id": row["user_id"], "user_name": row["user_name"], "email": row["email"]},
            "organization": row["organization_id"],
            "status": row["status"],
            "workload_name": row["workload_name"],
            "workload_type": row["workload_type"],
            "urgency": row["urgency"],
            "host_dc": zones.get(row["host_dc_id"]),
            "required_gpu_mins": row["required_gpu_mins"],
            "required_cpu_cores": row["required_cpu_cores"],
            "required_memory_gb": row["required_memory_gb"],
            "estimated_energy_kwh": row["estimated_energy_kwh"],
            "estimated_duration_mins": row["estimated_duration_mins"],
            "carbon_cap_gco2": row["carbon_cap_gco2"],
            "max_price_gbp": row["max_price_gbp"],
            "deferral_window_mins": row["deferral_window_mins"],
            "deadline": row["deadline"],
            "is_deferrable": row["is_deferrable"],
            "recommended_grid_zone": zones.get(row["recommended_grid_zone_id"]),
            "recommended_2_grid_zone": zones.get(row["recommended_2_grid_zone_id"]),
            "recommended_3_grid_zone": zones.get(row["recommended_3_grid_zone_id"]),
            "chosen_grid_zone": zones.get(row["chosen_grid_zone_id"]),
            "planned_start": row["planned_start"],
            "actual_energy_kwh": row["actual_energy_kwh"],
            "carbon_emitted_kg": row["carbon_emitted_kg"],
            "cost_gbp": row["cost_gbp"],
            "baseline_carbon_kg": row["baseline_carbon_kg"],
            "baseline_cost_gbp": row["baseline_cost_gbp"],
            "submitted_at": row["submitted_at"],
            "actual_start": row["actual_start"],
            "actual_end": row["actual_end"],
            "updated_at": row["updated_at"],
        }
        for row in rows
    ]


def _notifications(rows: list[dict], cursor) -> list[dict]:
    return [
        {
            "id": row["id"],
            "kind": row["kind"],
            "title": row["title"],
            "body": row["body"],
            "workload": None
            if row["workload_id"] is None
            else {"id": row["workload_id"], "job_id": row["job_id"], "workload_name": row["workload_name"]},
            "created_at": row["created_at"],
            "read_at": row["read_at"],
            "is_read": row["read_at"] is not None,
        }
        for row in rows
    ]


def _workload_scope(user) -> tuple[str, tuple]:
    user_id, _, _, is_staff, is_superuser, role, organization_id = user
    if is_superuser or (is_staff and role != "OPERATOR"):
        return "TRUE", ()
    if role == "OPERATOR" and organization_id:
        return "t.organization_id = %s", (organization_id,)
    return "t.user_id = %s", (user_id,)


LISTS = {
    "/api/v1/workloads/": _List(
        table="workloads_computeworkload",
        sql=f"SELECT {COLUMNS} FROM workloads_computeworkload t JOIN accounts_user u ON u.id = t.user_id",  # noqa: S608
        time="submitted_at",
        id_descending=False,
        scope=_workload_scope,
        shape=_workloads,
    ),
    "/api/v1/notifications/": _List(
        table="notifications_notification",
        sql=(
            "SELECT t.id, t.kind, t.title, t.body, t.workload_id, w.job_id, w.workload_name, t.created_at, t.read_at "
            "FROM notifications_notification t LEFT JOIN workloads_computeworkload w ON w.id = t.workload_id"
        ),
        time="created_at",
        id_descending=True,
        scope=lambda user: ("t.recipient_id = %s", (user[0],)),  # everyone reads only their own inbox
        shape=_notifications,
    ),
}


def _keyset(listing: _List, reverse: bool) -> tuple[str, str]:
    """The order and the "after the position" condition (binding time, time, id) of a page."""
    time_down, id_down = not reverse, listing.id_descending != reverse
    order = f"t.{listing.time} {'DESC' if time_down else 'ASC'}, t.id {'DESC' if id_down else 'ASC'}"
    after = (
        f" AND t.{listing.time} {'<=' if time_down else '>='} %s"
        f" AND (t.{listing.time} {'<' if time_down else '>'} %s OR t.id {'<' if id_down else '>'} %s)"
    )
    return order, after


def application(environ, start_response):
    if environ.get("PATH_INFO") == QUEUE_PATH:
        return _queue(environ, start_response)
    listing = LISTS.get(environ.get("PATH_INFO"))
    if listing is None:
        return _error("404 Not Found", "not_found", "Not found.", start_response)
    connection = _db()
    with connection.cursor() as cursor:
        user = _user(environ, cursor)
        if user is None:
            return _error("401 Unauthorized", "not_authenticated", "Sign in.", start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            size = min(int(query.get("page_size", [DEFAULT_PAGE_SIZE])[0]), MAX_PAGE_SIZE)
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        where, params = listing.scope(user)
        position = _decode_cursor(query["cursor"][0]) if "cursor" in query else None
        if position is not None and position["order"] != listing.label:
            return _error("400 Bad Request", "validation_error", "Not a cursor of this list.", start_response)
        reverse = position is not None and position["reverse"]
        order, after = _keyset(listing, reverse)
        if position is None:
            cursor.execute(f"SELECT count(*) FROM {listing.table} t WHERE {where}", params)  # noqa: S608
            count = cursor.fetchone()[0]
            keyset, keyset_params = "", ()
        else:
            count = position["count"]
            keyset, keyset_params = after, (position["at"], position["at"], position["id"])
        # fixed fragments; every value is bound
        cursor.execute(
            f"{listing.sql} WHERE {where}{keyset} ORDER BY {order} LIMIT %s", (*params, *keyset_params, size + 1)
        )
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        has_more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        results = listing.shape(rows, cursor)
    base = f"http://{environ.get('HTTP_HOST', 'testserver')}{environ['PATH_INFO']}"
    links = {"next": None, "previous": None}
    if rows:
        forward_more = has_more if not reverse else True
        backward_more = position is not None and (has_more if reverse else True)
        cursors = {"time": listing.time, "order": listing.label, "count": count}
        if forward_more:
            links["next"] = _link(base, query, encode_cursor(rows[-1], reverse=False, **cursors))
        if backward_more:
            links["previous"] = _link(base, query, encode_cursor(rows[0], reverse=True, **cursors))
    return _json("200 OK", {"count": count, **links, "results": results}, start_response)


def _link(base: str, query: dict, cursor: str) -> str:
    params = {key: values[-1] for key, values in query.items() if key not in ("cursor", "page")}
    params["cursor"] = cursor
    return f"{base}?{urlencode(sorted(params.items()))}"


# -- the scheduling queue ---------------------------------------------------------------------------

QUEUE_PATH = "/api/v1/scheduling/queue/"
QUEUE_ORDER = "-urgency_rank,deadline,submitted_at,id"
OPTION_COLUMNS = (
    'workload_id, rank, zone_id, start, "end", expected_emissions_kg, expected_cost_gbp, carbon_saving_kg, '
    "cost_saving_gbp, mean_intensity, mean_price, wait_mins, score, score_carbon, score_price, score_wait, "
    "energy_kwh, forecast_fetched_at, computed_at, run_id"
)
OUTCOME_COLUMNS = (
    'workload_id, feasible, "constraint", message, baseline_emissions_kg, baseline_cost_gbp, energy_kwh, '
    "energy_was_estimated, policy_preset, carbon_weight, price_weight, wait_weight, forecast_fetched_at, computed_at"
)


def encode_queue_cursor(row, *, reverse: bool, count: int) -> str:
    deadline = row["deadline"]
    position = [
        row["urgency_rank"],
        None if deadline is None else deadline.isoformat(),
        row["submitted_at"].isoformat(),
        str(row["id"]),
    ]
    raw = orjson.dumps({"o": QUEUE_ORDER, "p": position, "r": int(reverse), "c": count})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_queue_cursor(raw: str) -> dict | None:
    try:
        cursor = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        rank, deadline, submitted, pk = cursor["p"]
        return {
            "p": (
                int(rank),
                None if deadline is None else datetime.fromisoformat(deadline),
                datetime.fromisoformat(submitted),
                uuid.UUID(pk),
            ),
            "reverse": bool(cursor["r"]),
            "count": int(cursor["c"]),
            "order": cursor["o"],
        }
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, orjson.JSONDecodeError):
        return None


def _queue_keyset(position, reverse: bool) -> tuple[str, str, tuple]:
    """The order, and the condition "after the position" with its values. A NULL deadline sorts after
    every deadline, which a row comparison would not say: the deadline's part is spelled out."""
    if not reverse:
        order = "t.urgency_rank DESC, t.deadline ASC NULLS LAST, t.submitted_at ASC, t.id ASC"
    else:
        order = "t.urgency_rank ASC, t.deadline DESC NULLS FIRST, t.submitted_at DESC, t.id DESC"
    if position is None:
        return order, "", ()
    rank, deadline, submitted, pk = position
    tail = "(t.submitted_at, t.id) < (%s, %s)" if reverse else "(t.submitted_at, t.id) > (%s, %s)"
    if deadline is None:
        after = (
            f"t.deadline IS NOT NULL OR (t.deadline IS NULL AND {tail})"
            if reverse
            else f"t.deadline IS NULL AND {tail}"
        )
        deadline_params = (submitted, pk)
    elif reverse:
        after = f"t.deadline < %s OR (t.deadline = %s AND {tail})"
        deadline_params = (deadline, deadline, submitted, pk)
    else:
        after = f"t.deadline > %s OR t.deadline IS NULL OR (t.deadline = %s AND {tail})"
        deadline_params = (deadline, deadline, submitted, pk)
    rank_op = ">" if reverse else "<"
    condition = f" AND t.urgency_rank {rank_op}= %s AND (t.urgency_rank {rank_op} %s OR ({after}))"
    return order, condition, (rank, rank, *deadline_params)


def _option(row: dict, zones: dict) -> dict:
    return {
        "rank": row["rank"],
        "zone": zones.get(row["zone_id"]),
        "start": row["start"],
        "end": row["end"],
        "expected_emissions_g": row["expected_emissions_kg"] * 1000.0,
        "expected_emissions_kg": row["expected_emissions_kg"],
        "expected_cost_gbp": row["expected_cost_gbp"],
        "carbon_saving_kg": row["carbon_saving_kg"],
        "cost_saving_gbp": row["cost_saving_gbp"],
        "mean_intensity": row["mean_intensity"],
        "mean_price": row["mean_price"],
        "wait_mins": row["wait_mins"],
        "score": row["score"],
        "score_parts": {"carbon": row["score_carbon"], "price": row["score_price"], "wait": row["score_wait"]},
        "energy_kwh": row["energy_kwh"],
        "forecast_fetched_at": row["forecast_fetched_at"],
        "computed_at": row["computed_at"],
        "run_id": row["run_id"],
    }


def _outcome(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        "feasible": row["feasible"],
        "constraint": row["constraint"] or None,
        "message": row["message"],
        "baseline_emissions_kg": row["baseline_emissions_kg"],
        "baseline_cost_gbp": row["baseline_cost_gbp"],
        "energy_kwh": row["energy_kwh"],
        "energy_was_estimated": row["energy_was_estimated"],
        "policy": {
            "preset": row["policy_preset"],
            "carbon_weight": row["carbon_weight"],
            "price_weight": row["price_weight"],
            "wait_weight": row["wait_weight"],
        },
        "forecast_fetched_at": row["forecast_fetched_at"],
        "computed_at": row["computed_at"],
    }


def _dicts(cursor) -> list[dict]:
    names = [column.name for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _queue(environ, start_response):
    connection = _db()
    with connection.cursor() as cursor:
        user = _user(environ, cursor)
        if user is None:
            return _error("401 Unauthorized", "not_authenticated", "Sign in.", start_response)
        where, params = _workload_scope(user)
        if where.startswith("t.user_id"):  # neither an operator of an organisation nor the service role
            return _error("403 Forbidden", "permission_denied", "Operators only.", start_response)
        where, params = f"{where} AND t.status = %s", (*params, "PENDING")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            size = min(int(query.get("page_size", [DEFAULT_PAGE_SIZE])[0]), MAX_PAGE_SIZE)
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        position = _decode_queue_cursor(query["cursor"][0]) if "cursor" in query else None
        if "cursor" in query and (position is None or position["order"] != QUEUE_ORDER):
            return _error("400 Bad Request", "validation_error", "Not a cursor of this list.", start_response)
        reverse = position is not None and position["reverse"]
        order, after, after_params = _queue_keyset(position and position["p"], reverse)
        if position is None:
            cursor.execute(f"SELECT count(*) FROM workloads_computeworkload t WHERE {where}", params)  # noqa: S608
            count = cursor.fetchone()[0]
        else:
            count = position["count"]
        cursor.execute(
            f"SELECT {COLUMNS}, t.urgency_rank FROM workloads_computeworkload t "  # noqa: S608 - fixed fragments
            f"JOIN accounts_user u ON u.id = t.user_id WHERE {where}{after} ORDER BY {order} LIMIT %s",
            (*params, *after_params, size + 1),
        )
        rows = _dicts(cursor)
        has_more = len(rows) > size
        rows = rows[:size]
        if reverse:
            rows.reverse()
        ids = [row["id"] for row in rows]
        cursor.execute(
            f"SELECT {OPTION_COLUMNS} FROM scheduling_recommendation "  # noqa: S608
            "WHERE workload_id = ANY(%s) ORDER BY workload_id, rank",
            (ids,),
        )
        options = _dicts(cursor)
        cursor.execute(
            f"SELECT {OUTCOME_COLUMNS} FROM scheduling_schedulingoutcome WHERE workload_id = ANY(%s)",  # noqa: S608
            (ids,),
        )
        outcomes = {row["workload_id"]: row for row in _dicts(cursor)}
        zones = _zones(cursor, _workload_zone_ids(rows) | {option["zone_id"] for option in options})
        by_workload: dict = {}
        for option in options:
            by_workload.setdefault(option["workload_id"], []).append(_option(option, zones))
        results = _workloads(rows, cursor, zones)
        for row, item in zip(rows, results, strict=True):
            item["recommendations"] = by_workload.get(row["id"], [])
            item["scheduling_outcome"] = _outcome(outcomes.get(row["id"]))
    base = f"http://{environ.get('HTTP_HOST', 'testserver')}{environ['PATH_INFO']}"
    links = {"next": None, "previous": None}
    if rows:
        if has_more or reverse:
            links["next"] = _link(base, query, encode_queue_cursor(rows[-1], reverse=False, count=count))
        if position is not None and (has_more if reverse else True):
            links["previous"] = _link(base, query, encode_queue_cursor(rows[0], reverse=True, count=count))
    return _json("200 OK", {"count": count, **links, "results": results}, start_response)
