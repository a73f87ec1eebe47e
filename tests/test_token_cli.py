"""`python run.py token create|list|revoke|hash` (issue 9)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import tomli_w

from gateway.domain.access import token_digest
from tests.harness import ROOT


def run_cli(
    config: Path, *args: str, stdin: str = "", timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), command, "--config", str(config), *rest],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=config.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def wait_for_status(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], wanted: int, timeout: float = 15
) -> None:
    """Another process changed the tokens; the gateway re-reads them within seconds. Its
    answers are the observable way to see it (the interval only paces the polling)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(url, headers=headers) as response:
            if response.status == wanted:
                return
            last = response.status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{url} answered {last}, not {wanted}, for {timeout}s")
        await asyncio.sleep(0.1)


def write(tmp_path: Path, **extra: object) -> Path:
    config = {
        "gateway": {"data_dir": str(tmp_path / "var")},
        "suppliers": [{"id": "sup-a", "name": "A", "url": "http://127.0.0.1:9", "regions": ["CN"]}],
        **extra,
    }
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


def test_create_list_revoke_and_the_audit_log(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        auth={"tokens": [{"name": "from-config", "role": "viewer", "token": "x" * 20}]},
    )
    made = run_cli(config, "token", "create", "--name", "erp", "--role", "operator")
    assert made.returncode == 0, made.stderr
    assert "shown only now" in made.stderr
    token = made.stdout.strip()
    supplier = run_cli(config, "token", "create", "--name", "sup-a-bot", "--role", "supplier:sup-a")
    assert supplier.returncode == 0, supplier.stderr

    listed = run_cli(config, "token", "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[1].split()[:3] == ["from-config", "viewer", "config"]
    assert lines[2].split()[:3] == ["erp", "operator", "store"]
    assert lines[3].split()[:3] == ["sup-a-bot", "supplier:sup-a", "store"]
    assert token not in listed.stdout
    assert token_digest(token) not in listed.stdout

    assert run_cli(config, "token", "revoke", "erp").returncode == 0
    again = run_cli(config, "token", "revoke", "erp")
    assert again.returncode == 1
    assert "no active token named 'erp'" in again.stderr
    assert "revoked" in run_cli(config, "token", "list").stdout.splitlines()[2]
    reused = run_cli(config, "token", "create", "--name", "erp", "--role", "viewer")
    assert reused.returncode == 2
    assert "exists or existed" in reused.stderr

    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        rows = db.execute(
            "SELECT actor, via, action, target FROM audit_log ORDER BY seq"
        ).fetchall()
    actions = [(via, action, target) for _, via, action, target in rows]
    assert actions == [
        ("cli", "token.create", "erp"),
        ("cli", "token.create", "sup-a-bot"),
        ("cli", "token.revoke", "erp"),
    ]
    assert all(actor.startswith("cli") for actor, *_ in rows)


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        auth={"tokens": [{"name": "from-config", "role": "viewer", "token": "x" * 20}]},
    )
    cases = {
        ("--name", "x", "--role", "root"): "--role: 'root' is not a role",
        ("--name", "x", "--role", "supplier"): "--role: 'supplier' is not a role",
        ("--name", "x", "--role", "supplier:sup-z"): "--role: no supplier 'sup-z'",
        ("--name", "bad name", "--role", "viewer"): "--name: 'bad name'",
        ("--name", "from-config", "--role", "viewer"): "the config already has",
    }
    for args, message in cases.items():
        result = run_cli(config, "token", "create", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    revoke = run_cli(config, "token", "revoke", "from-config")
    assert revoke.returncode == 2
    assert "remove it there" in revoke.stderr


def test_hash_prints_what_the_config_takes(tmp_path: Path) -> None:
    config = write(tmp_path)
    result = run_cli(config, "token", "hash", stdin="my-long-enough-token\n")
    assert result.returncode == 0
    assert result.stdout.strip() == token_digest("my-long-enough-token")
    assert run_cli(config, "token", "hash", stdin="short\n").returncode == 2
