"""The bare reference the read-path benchmark measures Pylon against: a WSGI app with no Django.

It does the job of ``GET /api/v1/workloads/`` by hand, honestly: decodes the same JWT with the same
key, audience and issuer (and simplejwt's checks: token type, active user, revocation by password
change), loads the user, applies the same scope (service role everything, an operator their
organisation, a user their own rows), counts the rows in scope when the page counts (a first page;
a cursor page carries its count), reads the same page in the same order with the same owner and
the same five zone summaries, and writes the same JSON with psycopg and orjson.

Only the benchmark serves it (under gunicorn, configured by the environment variables below); it is
not part of Pylon. It imports nothing from Pylon on purpose: it is what the job costs without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from datetime import datetime
from decimal import Decimal
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
    "w.id, w.job_id, w.user_id, u.user_name, u.email, w.organization_id, w.status, w.workload_name, "
    "w.workload_type, w.urgency, w.host_dc_id, w.required_gpu_mins, w.required_cpu_cores, w.required_memory_gb, "
    "w.estimated_energy_kwh, w.estimated_duration_mins, w.carbon_cap_gco2, w.max_price_gbp, "
    "w.deferral_window_mins, w.deadline, w.is_deferrable, w.recommended_grid_zone_id, "
    "w.recommended_2_grid_zone_id, w.recommended_3_grid_zone_id, w.chosen_grid_zone_id, w.planned_start, "
    "w.actual_energy_kwh, w.carbon_emitted_kg, w.cost_gbp, w.baseline_carbon_kg, w.baseline_cost_gbp, "
    "w.submitted_at, w.actual_start, w.actual_end, w.updated_at"
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


def _scope(user) -> tuple[str, tuple]:
    user_id, _, _, is_staff, is_superuser, role, organization_id = user
    if is_superuser or (is_staff and role != "OPERATOR"):
        return "TRUE", ()
    if role == "OPERATOR" and organization_id:
        return "w.organization_id = %s", (organization_id,)
    return "w.user_id = %s", (user_id,)


def _decode_cursor(raw: str) -> dict | None:
    try:
        cursor = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return {
            "at": datetime.fromisoformat(cursor["p"][0]),
            "id": uuid.UUID(cursor["p"][1]),
            "reverse": bool(cursor["r"]),
            "count": int(cursor["c"]),
        }
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, orjson.JSONDecodeError):
        return None


def encode_cursor(row, *, reverse: bool, count: int) -> str:
    position = [row["submitted_at"].isoformat(), str(row["id"])]
    raw = orjson.dumps({"o": "-submitted_at,id", "p": position, "r": int(reverse), "c": count})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def application(environ, start_response):
    if environ.get("PATH_INFO") != "/api/v1/workloads/":
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
        where, params = _scope(user)
        position = _decode_cursor(query["cursor"][0]) if "cursor" in query else None
        if position is None:
            cursor.execute(f"SELECT count(*) FROM workloads_computeworkload w WHERE {where}", params)  # noqa: S608
            count = cursor.fetchone()[0]
            order, keyset, keyset_params = "w.submitted_at DESC, w.id ASC", "", ()
        else:
            count = position["count"]
            at, pk = position["at"], position["id"]
            if position["reverse"]:
                order = "w.submitted_at ASC, w.id DESC"
                keyset = " AND w.submitted_at >= %s AND (w.submitted_at > %s OR w.id < %s)"
            else:
                order = "w.submitted_at DESC, w.id ASC"
                keyset = " AND w.submitted_at <= %s AND (w.submitted_at < %s OR w.id > %s)"
            keyset_params = (at, at, pk)
        page_sql = (
            f"SELECT {COLUMNS} FROM workloads_computeworkload w JOIN accounts_user u ON u.id = w.user_id "  # noqa: S608
            f"WHERE {where}{keyset} ORDER BY {order} LIMIT %s"
        )  # fixed fragments; every value is bound
        cursor.execute(page_sql, (*params, *keyset_params, size + 1))
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        has_more = len(rows) > size
        rows = rows[:size]
        reverse = position is not None and position["reverse"]
        if reverse:
            rows.reverse()
        zone_ids = {row[f"{field}_id"] for row in rows for field in (*ZONE_FIELDS, "chosen_grid_zone")}
        zone_ids.discard(None)
        cursor.execute(
            "SELECT id, zone_id, zone_name, grid_zone_code FROM zones_gridzone WHERE id = ANY(%s)", (list(zone_ids),)
        )
        zones = {
            pk: {"id": pk, "zone_id": zone_id, "zone_name": name, "grid_zone_code": code}
            for pk, zone_id, name, code in cursor.fetchall()
        }
    results = [
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
    base = f"http://{environ.get('HTTP_HOST', 'testserver')}/api/v1/workloads/"
    links = {"next": None, "previous": None}
    if rows:
        forward_more = has_more if not reverse else True
        backward_more = position is not None and (has_more if reverse else True)
        if forward_more:
            links["next"] = _link(base, query, encode_cursor(rows[-1], reverse=False, count=count))
        if backward_more:
            links["previous"] = _link(base, query, encode_cursor(rows[0], reverse=True, count=count))
    return _json("200 OK", {"count": count, **links, "results": results}, start_response)


def _link(base: str, query: dict, cursor: str) -> str:
    params = {key: values[-1] for key, values in query.items() if key not in ("cursor", "page")}
    params["cursor"] = cursor
    return f"{base}?{urlencode(sorted(params.items()))}"
