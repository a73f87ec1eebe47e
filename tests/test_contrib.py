"""The systemd units in contrib/ (issue 9): what they promise against what the gateway does, and
`systemd-analyze verify` where systemd is installed."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from gateway.infra.config import GatewaySection
from tests.harness import ROOT

CONTRIB = ROOT / "contrib"
UNITS = ["dropship-gateway.service", "dropship-gateway-backup.service"]


def unit(name: str) -> dict[str, list[str]]:
    """`Section.Key` → every value given (systemd allows a key more than once)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in (CONTRIB / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values.setdefault(f"{section}.{key}", []).append(value)
    return values


def one(values: dict[str, list[str]], key: str) -> str:
    assert len(values.get(key, [])) == 1, f"{key}: {values.get(key)}"
    return values[key][0]


def environment(values: dict[str, list[str]]) -> dict[str, str]:
    return dict(v.partition("=")[::2] for v in values.get("Service.Environment", []))


def test_the_service_restarts_on_failure_and_outlasts_the_sigterm_grace() -> None:
    service = unit("dropship-gateway.service")
    assert one(service, "Service.Restart") == "on-failure"
    assert one(service, "Service.KillSignal") == "SIGTERM"
    default_grace = GatewaySection().shutdown_grace_s
    configured = tomllib.loads((ROOT / "config" / "default.toml").read_text())
    grace = configured["gateway"].get("shutdown_grace_s", default_grace)
    # The grace, then flushing the feed and closing the store: a margin above the grace.
    assert float(one(service, "Service.TimeoutStopSec")) >= max(grace, default_grace) + 10
    assert one(service, "Service.RestartPreventExitStatus") == "2"  # a refused config


def test_the_service_runs_hardened_as_its_own_user() -> None:
    service = unit("dropship-gateway.service")
    assert one(service, "Service.User") == "dropship"
    hardening = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    for key, value in hardening.items():
        assert one(service, f"Service.{key}") == value, key
    sysusers = (CONTRIB / "dropship-gateway.sysusers.conf").read_text(encoding="utf-8")
    assert any(line.split()[:2] == ["u", "dropship"] for line in sysusers.splitlines())


@pytest.mark.parametrize("name", UNITS)
def test_the_paths_agree_with_each_other(name: str) -> None:
    service = unit(name)
    env = environment(service)
    state = one(service, "Service.StateDirectory")
    # The data_dir is the state directory systemd makes writable under ProtectSystem=strict.
    assert env["GATEWAY__GATEWAY__DATA_DIR"] == f"/var/lib/{state}"
    assert env["GATEWAY_CONFIG"] == "/etc/dropship-gateway/gateway.toml"
    workdir = one(service, "Service.WorkingDirectory")
    command = one(service, "Service.ExecStart").split()
    assert command[0] == f"{workdir}/.venv/bin/python"
    assert command[1] == "run.py"
    assert command[2] == ("serve" if name == "dropship-gateway.service" else "backup")


def test_the_timer_runs_the_backup_service() -> None:
    timer = unit("dropship-gateway-backup.timer")
    assert one(timer, "Timer.OnCalendar")
    assert "--keep" in one(unit("dropship-gateway-backup.service"), "Service.ExecStart")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
@pytest.mark.parametrize("name", [*UNITS, "dropship-gateway-backup.timer"])
def test_systemd_accepts_the_units(name: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(CONTRIB / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The code is not installed under /opt here; everything else must be clean.
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line and "is not executable" not in line
    ]
    assert not complaints, "\n".join(complaints)


def test_a_unit_file_has_no_unknown_sections(tmp_path: Path) -> None:
    for name in [*UNITS, "dropship-gateway-backup.timer"]:
        sections = {key.split(".")[0] for key in unit(name)}
        assert sections <= {"Unit", "Service", "Timer", "Install"}, name
