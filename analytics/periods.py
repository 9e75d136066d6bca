"""The period of an analytics question: its range, its buckets and the time zone they are cut in.

Buckets are calendar units of the requested time zone: a day is local midnight to local midnight
(23 or 25 hours across a DST change), a week starts on Monday, a month on the 1st. Hours are cut in
UTC and shown in the zone: every hour is then exactly one hour long, and the hour repeated when the
clocks go back is two buckets, not one merged one. (In a zone whose offset is not a whole number of
hours, hourly buckets therefore start at :30 or :45 local time.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import TruncDay, TruncHour, TruncMonth, TruncWeek
from django.utils import timezone


class Bucket(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"
    WEEK = "week", "Week (from Monday)"
    MONTH = "month", "Month"


DEFAULT_TIME_ZONE = "Europe/London"
DEFAULT_RANGE = timedelta(days=30)
#: The longest range of hourly buckets (8,784 of them); coarser buckets may span ten years.
MAX_HOURLY_RANGE = timedelta(days=366)
MAX_RANGE = timedelta(days=3660)

_TRUNC = {Bucket.HOUR: TruncHour, Bucket.DAY: TruncDay, Bucket.WEEK: TruncWeek, Bucket.MONTH: TruncMonth}


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a ValidationError when there is none."""
    try:
        if not name or name != name.strip() or ".." in name or name.startswith("/"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError, OSError):
        raise ValidationError("Unknown time zone; send an IANA name such as Europe/London.", code="invalid")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` cut into ``bucket``s of ``tz``."""

    start: datetime
    end: datetime
    bucket: str
    tz: ZoneInfo

    @classmethod
    def build(
        cls, *, start: datetime | None, end: datetime | None, bucket: str, tz: ZoneInfo, now: datetime | None = None
    ) -> Period:
        """Defaults: to now, from 30 days before ``to``. Errors name the parameter at fault."""
        end = end or now or timezone.now()
        start = start or end - DEFAULT_RANGE
        if end <= start:
            raise ValidationError({"to": ValidationError("Must be after `from`.", code="invalid")})
        longest = MAX_HOURLY_RANGE if bucket == Bucket.HOUR else MAX_RANGE
        if end - start > longest:
            raise ValidationError(
                {
                    "to": ValidationError(
                        f"With {bucket} buckets the range may span at most {longest.days} days.", code="max_range"
                    )
                }
            )
        return cls(start=start, end=end, bucket=bucket, tz=tz)

    def trunc(self, expression) -> models.Func:
        """The database expression of the bucket an instant falls in."""
        return _TRUNC[self.bucket](expression, tzinfo=UTC if self.bucket == Bucket.HOUR else self.tz)

    def floor(self, instant: datetime) -> datetime:
        """The start of the bucket containing ``instant`` (the Python twin of ``trunc``)."""
        if self.bucket == Bucket.HOUR:
            return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        day = instant.astimezone(self.tz).date()
        if self.bucket == Bucket.WEEK:
            day -= timedelta(days=day.weekday())
        elif self.bucket == Bucket.MONTH:
            day = day.replace(day=1)
        return self._midnight(day)

    def next(self, bucket_start: datetime) -> datetime:
        """The start of the bucket after the one starting at ``bucket_start``."""
        if self.bucket == Bucket.HOUR:
            return bucket_start + timedelta(hours=1)
        day = bucket_start.astimezone(self.tz).date()
        if self.bucket == Bucket.DAY:
            return self._midnight(day + timedelta(days=1))
        if self.bucket == Bucket.WEEK:
            return self._midnight(day + timedelta(days=7))
        return self._midnight(date(day.year + day.month // 12, day.month % 12 + 1, 1))

    def buckets(self) -> Iterator[tuple[datetime, datetime]]:
        """Every bucket that overlaps the period, as (start, end), in the period's zone."""
        current = self.floor(self.start)
        while current < self.end:
            following = self.next(current)
            yield current.astimezone(self.tz), following.astimezone(self.tz)
            current = following

    def _midnight(self, day: date) -> datetime:
        # A zone that skips midnight itself (none in Europe) gets the wall time zoneinfo gives.
        return datetime.combine(day, time(0), tzinfo=self.tz)
