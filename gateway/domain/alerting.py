"""Alert rules as pure state machines, and the bodies alerts are sent as. No I/O here.

A rule looks at observations (one per subject: a supplier, a channel, a SKU, or the gateway)
at each evaluation. A subject whose condition holds for `for_s` fires once; a firing subject
whose condition has been false for `resolve_after_s` resolves once. In between nothing is sent,
however often the rule is evaluated: the Prometheus "pending → firing" model, without repeats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, Literal

import msgspec

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """What a rule saw of one subject at one evaluation."""

    subject: dict[str, str]
    breached: bool
    value: float | None
    message: str  # a sentence for a person, saying what was seen against what threshold


class Firing(msgspec.Struct, kw_only=True):
    """An alert that fired and has not resolved yet (kept in the store across restarts)."""

    alert_id: str
    rule: str
    subject: dict[str, str]
    severity: str
    message: str
    value: float | None
    fired_at: datetime


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    state: Literal["firing", "resolved"]
    rule: str
    subject: dict[str, str]
    severity: str  # the rule's severity (a resolution is published as "info")
    message: str
    value: float | None
    resolves: str | None = None  # the alert_id a resolution ends


def subject_key(subject: dict[str, str]) -> str:
    return json.dumps(subject, sort_keys=True, ensure_ascii=False)


class RuleTracker:
    """The pending/firing state of one rule, per subject. Times are monotonic seconds."""

    def __init__(self, rule: str, severity: str, for_s: float, resolve_after_s: float) -> None:
        self.rule = rule
        self.severity = severity
        self.for_s = for_s
        self.resolve_after_s = resolve_after_s
        self._breach_since: dict[str, float] = {}
        self._clear_since: dict[str, float] = {}
        self.firing: dict[str, Firing] = {}

    def adopt(self, firing: Firing) -> None:
        """An alert that was firing before a restart: it is not fired again."""
        self.firing[subject_key(firing.subject)] = firing

    def step(self, observations: list[Observation], monotonic: float) -> list[Transition]:
        transitions: list[Transition] = []
        seen: set[str] = set()
        for obs in observations:
            key = subject_key(obs.subject)
            seen.add(key)
            if obs.breached:
                self._clear_since.pop(key, None)
                since = self._breach_since.setdefault(key, monotonic)
                if key not in self.firing and monotonic - since >= self.for_s:
                    transitions.append(
                        Transition(
                            state="firing",
                            rule=self.rule,
                            subject=obs.subject,
                            severity=self.severity,
                            message=obs.message,
                            value=obs.value,
                        )
                    )
            else:
                self._breach_since.pop(key, None)
                transitions += self._clearing(key, obs.subject, obs.message, obs.value, monotonic)
        # A subject no longer observed (a supplier removed from the config) counts as clear.
        for key in [k for k in self.firing if k not in seen]:
            self._breach_since.pop(key, None)
            firing = self.firing[key]
            message = f"{self.rule}: no longer observed"
            transitions += self._clearing(key, firing.subject, message, None, monotonic)
        return transitions

    def _clearing(
        self,
        key: str,
        subject: dict[str, str],
        message: str,
        value: float | None,
        monotonic: float,
    ) -> list[Transition]:
        firing = self.firing.get(key)
        if firing is None:
            return []
        since = self._clear_since.setdefault(key, monotonic)
        if monotonic - since < self.resolve_after_s:
            return []
        self._clear_since.pop(key, None)
        return [
            Transition(
                state="resolved",
                rule=self.rule,
                subject=subject,
                severity=self.severity,
                message=message,
                value=value,
                resolves=firing.alert_id,
            )
        ]

    def fired(self, firing: Firing) -> None:
        self.firing[subject_key(firing.subject)] = firing

    def resolved(self, subject: dict[str, str]) -> None:
        self.firing.pop(subject_key(subject), None)


# -- what webhooks receive ----------------------------------------------------------------------

_TITLES = {"firing": ("告警", "FIRING"), "resolved": ("恢复", "RESOLVED")}
_SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}


def _markdown(alert: dict[str, Any]) -> tuple[str, str]:
    """A title and a short bilingual markdown text, for the chat robots."""
    zh, en = _TITLES[alert.get("state", "firing")]
    title = f"[{zh} {en}] {alert['kind']}"
    subject = ", ".join(f"{k}={v}" for k, v in alert["subject"].items()) or "gateway"
    severity = alert["severity"]
    lines = [
        f"### {title}",
        f"- 级别 severity: {_SEVERITY_ZH.get(severity, severity)} {severity}",
        f"- 对象 subject: {subject}",
        f"- 详情 detail: {alert['message']}",
        f"- 时间 at: {alert['at']}",
        f"- alert_id: {alert['alert_id']}",
    ]
    return title, "\n".join(lines)


def webhook_body(format: str, alert: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for a webhook of `format` ("generic", "dingtalk", "wecom")."""
    if format == "generic":
        return alert
    title, text = _markdown(alert)
    if format == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    if format == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    raise ValueError(f"unknown webhook format {format!r}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a robot request (加签): base64 of HMAC-SHA256, keyed with the
    secret, over "<timestamp in ms>\\n<secret>"; sent as the `timestamp` and `sign` query
    parameters (URL-encoded by the HTTP client)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()
