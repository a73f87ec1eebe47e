"""Structured logs: JSON lines on stdout (`event`, `level`, `ts`), readable when stdout is a
terminal. Personal data is masked by a processor in the chain, for our own log calls and for the
libraries' standard-library logging alike."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import msgspec
import structlog

from gateway.domain.masking import mask_event_dict

LogFormat = Literal["auto", "json", "console"]

# Libraries that speak too much at INFO for a daemon's log.
_QUIET_LOGGERS = {
    "amqtt": logging.ERROR,
    "transitions": logging.WARNING,
    "aiohttp.access": logging.WARNING,
}


# Characters that JSON leaves as they are but that many readers take for the end of a line
# (Python's splitlines, JavaScript before ES2019, log shippers): a client could otherwise start
# a forged log line with them. JSON's own escapes keep the line one line and decode the same.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _serialize(obj: Any, **_: Any) -> str:
    return msgspec.json.encode(obj, enc_hook=str).decode().translate(_LINE_BREAKS)


def _escape_line_breaks(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The console format's version of the same escape (it prints values as they are)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = value.translate(_LINE_BREAKS)
    return event_dict


def configure_logging(
    level: str = "info", fmt: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Configure structlog and stdlib logging once, at start-up."""
    stream = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    # Exceptions are rendered to text before masking, so a traceback that quotes a phone
    # number or an address is masked like any other value.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_event_dict,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(serializer=_serialize)
    )
    if console:
        shared.append(_escape_line_breaks)
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, numeric_level))


class LogThrottle:
    """At most one log line per key and interval, for events a client can repeat at will (a
    bad signature): the first is logged, then one line per interval with how many were not."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; else how many were suppressed since the last line."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
