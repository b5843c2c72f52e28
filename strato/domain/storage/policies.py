"""Recurring snapshot policies: CloudStack's interval types and schedule strings, read
into calendar fields (Temporal Schedules take them as they are).

    HOURLY   "MM"        minute of every hour
    DAILY    "MM:HH"     minute and hour of every day
    WEEKLY   "MM:HH:D"   ... of day D of the week (1 = Sunday ... 7 = Saturday)
    MONTHLY  "MM:HH:DD"  ... of day DD of the month (1-28, so that every month has it)
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from strato.domain.errors import InvalidInput

INTERVALS = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")
_FIELDS = {"HOURLY": 1, "DAILY": 2, "WEEKLY": 3, "MONTHLY": 3}
_FORMAT = {"HOURLY": "MM", "DAILY": "MM:HH", "WEEKLY": "MM:HH:D", "MONTHLY": "MM:HH:DD"}


@dataclass(frozen=True)
class Calendar:
    """When a policy fires, in its time zone (None: every value of that field)."""

    minute: int
    hour: int | None = None
    day_of_week: int | None = None  # 0 = Sunday, as Temporal counts
    day_of_month: int | None = None


def _number(part: str, low: int, high: int, what: str) -> int:
    if not part.isdigit() or not low <= int(part) <= high:
        raise InvalidInput(f"schedule: {what} must be {low}-{high}, not {part!r}", field="schedule")
    return int(part)


def calendar(interval_type: str, schedule: str) -> Calendar:
    """Read ``schedule`` for ``interval_type``; InvalidInput naming the part that is wrong."""
    if interval_type not in INTERVALS:
        raise InvalidInput(
            f"interval_type must be one of {', '.join(INTERVALS)}", field="interval_type"
        )
    parts = schedule.split(":")
    if len(parts) != _FIELDS[interval_type]:
        raise InvalidInput(
            f"schedule: a {interval_type} policy's schedule is {_FORMAT[interval_type]}, "
            f"not {schedule!r}",
            field="schedule",
        )
    minute = _number(parts[0], 0, 59, "the minute")
    if interval_type == "HOURLY":
        return Calendar(minute)
    hour = _number(parts[1], 0, 23, "the hour")
    if interval_type == "DAILY":
        return Calendar(minute, hour)
    if interval_type == "WEEKLY":
        return Calendar(minute, hour, day_of_week=_number(parts[2], 1, 7, "the day of week") - 1)
    return Calendar(minute, hour, day_of_month=_number(parts[2], 1, 28, "the day of month"))


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInput(
            f"timezone: {name!r} is not a known time zone", field="timezone"
        ) from err
    return name
