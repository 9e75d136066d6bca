"""Figures as an operator reads them: rounded, with units, and statuses as labelled badges."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.html import format_html

EM_DASH = "—"
Number = Decimal | float | int | None


def _fixed(value: Number, places: int) -> str:
    return f"{float(value):,.{places}f}"


def kg(value: Number) -> str:
    """Mass of CO2: grams under 1 kg (0.036 kg reads better as 36 g), else kg to 2 places."""
    if value is None:
        return EM_DASH
    amount = float(value)
    if abs(amount) < 1:
        return f"{_fixed(amount * 1000, 0)} g"
    return f"{_fixed(amount, 2)} kg"


def g_per_kwh(value: Number) -> str:
    return EM_DASH if value is None else f"{_fixed(value, 0)} g/kWh"


def gbp(value: Number) -> str:
    """Money: pence under £1 would hide signs, so always pounds to 2 places (4 under 1p)."""
    if value is None:
        return EM_DASH
    amount = float(value)
    sign = "−" if amount < 0 else ""
    places = 4 if 0 < abs(amount) < 0.01 else 2
    return f"{sign}£{_fixed(abs(amount), places)}"


def gbp_per_kwh(value: Number) -> str:
    return EM_DASH if value is None else f"£{_fixed(value, 3)}/kWh"


def kwh(value: Number) -> str:
    return EM_DASH if value is None else f"{_fixed(value, 2)} kWh"


def saving_kg(value: Number) -> str:
    """A saving: positive is less emitted than running at once in the host zone."""
    if value is None:
        return EM_DASH
    return ("−" if float(value) < 0 else "") + kg(abs(float(value)))


def duration(delta: timedelta | None) -> str:
    """``3 d 4 h``, ``5 h 20 min``, ``12 min``; negative durations are prefixed with a minus sign."""
    if delta is None:
        return EM_DASH
    seconds = int(delta.total_seconds())
    sign, seconds = ("−", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"
    if hours:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    return f"{sign}{minutes} min"


def minutes(value: Number) -> str:
    return EM_DASH if value is None else duration(timedelta(minutes=float(value)))


def when(moment: datetime | None) -> str:
    """A time in the site's time zone, short: ``3 Dec 14:30``; the year only when not this year's."""
    if moment is None:
        return EM_DASH
    local = timezone.localtime(moment)
    pattern = "%-d %b %H:%M" if local.year == timezone.localtime().year else "%-d %b %Y %H:%M"
    return local.strftime(pattern)


def ratio(value: Number) -> str:
    return EM_DASH if value is None else _fixed(value, 2)


#: Badge styles by status and urgency: the text is always shown, the colour only repeats it.
BADGE_TONES = {
    "PENDING": "waiting",
    "SCHEDULED": "info",
    "RUNNING": "active",
    "COMPLETED": "good",
    "FAILED": "bad",
    "CANCELLED": "muted",
    "LOW": "muted",
    "MEDIUM": "info",
    "HIGH": "waiting",
    "CRITICAL": "bad",
}


def badge(value: str, label: str | None = None):
    tone = BADGE_TONES.get(value, "muted")
    return format_html('<span class="pylon-badge pylon-badge--{}">{}</span>', tone, label or value.title())
