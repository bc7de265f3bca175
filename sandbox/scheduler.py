"""The sandbox's clock and its scheduled functions (DESIGN §8).

- ``GET /dev/clock`` shows the sandbox's time; ``POST /dev/clock`` ``{"advanceMinutes": N}`` moves
  it forward for the functions and the Invoice Cloud simulator alike (both read
  ``avocette.clock.utc_now``), so that expiry, late approvals and daily jobs can be seen at once.
- Functions with a ``Schedule`` or ``ScheduleV2`` event in template.yaml run on their own: a
  ``rate(...)`` of any length every minute (expiry is every five minutes in AWS, every minute here),
  so that a demo does not wait; a daily ``cron(M H * * ? *)`` once the sandbox's clock passes that
  time of day in the schedule's zone (the biller's export, after the biller's midnight), so that
  moving the clock a day forward runs it; and any of them on demand with
  ``POST /dev/run/{FunctionName}``, which answers what the function returned (a JSON body, when
  given, is the event: ``{"day": "YYYY-MM-DD"}`` remakes that day's export).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from avocette import clock
from werkzeug.wrappers import Request, Response

from sandbox.functions import FunctionError, FunctionPool

__all__ = ["Scheduler", "scheduled_event"]

log = logging.getLogger("sandbox.scheduler")

LOCAL_PERIOD_SECONDS = 60.0
_DAILY = re.compile(r"^cron\((?P<minute>\d{1,2}) (?P<hour>\d{1,2}) \* \* \? \*\)$")


def next_daily_run(expression: str, after: datetime, zone: tzinfo = UTC) -> datetime | None:
    """When a daily ``cron(M H * * ? *)`` of ``zone`` runs next after ``after`` (UTC); ``None`` for others."""
    match = _DAILY.match(expression)
    if match is None:
        return None
    day = after.astimezone(zone).date()
    while True:
        at = datetime.combine(day, time(int(match["hour"]), int(match["minute"])), tzinfo=zone).astimezone(UTC)
        if at > after:
            return at
        day += timedelta(days=1)


def scheduled_event(function_name: str) -> dict[str, Any]:
    """An EventBridge scheduled event, as AWS delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": clock.timestamp(clock.utc_now()),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{function_name}"],
        "detail": {},
    }


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class Scheduler:
    """Runs the template's scheduled functions every ``period`` seconds until :meth:`stop`, and
    serves ``/dev/clock`` and ``/dev/run/{FunctionName}``."""

    def __init__(
        self,
        functions: Mapping[str, FunctionPool],
        *,
        period: float = LOCAL_PERIOD_SECONDS,
        time_zones: Mapping[str, tzinfo] | None = None,
    ) -> None:
        self.functions = dict(functions)
        self.scheduled = sorted(name for name, function in self.functions.items() if function.spec.schedules)
        self.period = period
        self.time_zones = dict(time_zones or {})  # a function's schedule's zone, when not UTC
        now = clock.utc_now()
        self._daily = {
            name: (expression, next_run)
            for name in self.scheduled
            for expression in self.functions[name].spec.schedules
            if (next_run := next_daily_run(expression, now, self.zone_of(name))) is not None
        }
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.scheduled and self.period > 0:
            self._thread = threading.Thread(target=self._loop, name="sandbox-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopped.wait(self.period):
            for name in self.due(clock.utc_now()):
                try:
                    self.run(name)
                except FunctionError as error:  # a failing job must not stop the others
                    log.error("Scheduled function %s failed: %s: %s", name, error.error_type, error.message)
                except Exception:
                    log.exception("Scheduled function %s could not be invoked", name)

    def due(self, now: datetime) -> list[str]:
        """The functions to run now: every ``rate`` one, and a daily one whose time has come."""
        names = []
        for name in self.scheduled:
            daily = self._daily.get(name)
            if daily is None:
                names.append(name)
                continue
            expression, next_run = daily
            if now >= next_run:
                names.append(name)
                self._daily[name] = (expression, next_daily_run(expression, now, self.zone_of(name)) or next_run)
        return names

    def zone_of(self, name: str) -> tzinfo:
        return self.time_zones.get(name, UTC)

    def run(self, name: str, event: Mapping[str, Any] | None = None) -> Any:
        return self.functions[name].invoke(dict(event) if event else scheduled_event(name))

    # ---- HTTP ----------------------------------------------------------------------------------

    def clock_route(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(request.get_data() or b"{}")
                minutes = body["advanceMinutes"]
                if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 0 <= minutes <= 525_600:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return _json(
                    400, {"error": "validation_error", "message": 'Send {"advanceMinutes": N}, 0 <= N <= 525600.'}
                )
            clock.set_offset(clock.offset() + timedelta(minutes=minutes))
            log.info("Sandbox clock moved forward %s minutes", minutes)
        elif request.method != "GET":
            return _json(405, {"error": "method_not_allowed", "message": "GET or POST"})
        return _json(
            200,
            {
                "now": clock.timestamp(clock.utc_now()),
                "offsetMinutes": clock.offset().total_seconds() / 60,
            },
        )

    def run_route(self, request: Request) -> Response:
        name = request.path.removeprefix("/dev/run/")
        if request.method != "POST":
            return _json(405, {"error": "method_not_allowed", "message": "POST to run a function"})
        if name not in self.scheduled:
            return _json(
                404,
                {"error": "not_found", "message": f"No scheduled function {name!r}; try one of {self.scheduled}"},
            )
        try:
            event = json.loads(request.get_data() or b"{}")
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return _json(
                400, {"error": "validation_error", "message": "The body, when given, is a JSON object: the event"}
            )
        try:
            result = self.run(name, event)
        except FunctionError as error:  # Lambda's Invoke answers the function's error in its body
            return _json(500, {"function": name, "errorType": error.error_type, "errorMessage": error.message})
        return _json(200, {"function": name, "result": result})
