"""`python run.py token create|list|revoke|hash` (issue 9): API tokens kept in the gateway's
database, hashed. A running gateway sees a new or revoked token within a few seconds."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gateway.app.event_loop import run_async
from gateway.domain.access import (
    MIN_TOKEN_LENGTH,
    Role,
    new_token,
    parse_role,
    token_digest,
    valid_token_name,
)
from gateway.infra.config import Config, ConfigError, load_config
from gateway.store.audit import AuditEntry, append_entries
from gateway.store.db import Database
from gateway.store.tokens import (
    NoSuchToken,
    TokenNameTaken,
    insert_token,
    list_tokens,
    revoke_token,
)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DATABASE_FILE = "gateway.db"  # as gateway.app.runtime names it


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="make, list and revoke API tokens")
    token.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="make a token; it is printed once, never again")
    create.add_argument("--name", required=True, help="shown in the audit log, e.g. erp-prod")
    create.add_argument(
        "--role", required=True, help="viewer, operator, admin or supplier:<supplier id>"
    )
    actions.add_parser("list", help="the tokens of the config and of the database")
    revoke = actions.add_parser("revoke", help="revoke a token made with `token create`")
    revoke.add_argument("name")
    actions.add_parser("hash", help="read a token on stdin, print its sha256 for [[auth.tokens]]")


def cmd_token(args: argparse.Namespace, config_path: Path, out: TextIO, err: TextIO) -> int:
    if args.token_command == "hash":
        token = sys.stdin.readline().strip()
        if len(token) < MIN_TOKEN_LENGTH:
            err.write(f"a token has at least {MIN_TOKEN_LENGTH} characters\n")
            return EXIT_INVALID
        out.write(token_digest(token) + "\n")
        return EXIT_OK
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            err.write(f"{problem.key_path()}: {problem.message}\n")
        return EXIT_INVALID
    if args.token_command == "create":
        return run_async(_create(config, args.name, args.role, out, err))
    if args.token_command == "revoke":
        return run_async(_revoke(config, args.name, out, err))
    return run_async(_list(config, out))


def _database(config: Config) -> Database:
    return Database(
        Path(config.gateway.data_dir) / DATABASE_FILE,
        synchronous=config.gateway.sqlite_synchronous,
    )


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _audit(db: Database, action: str, target: str, role: str) -> None:
    await append_entries(
        db,
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=_operator(),
                role="local",
                via="cli",
                action=action,
                target=target,
                detail={"role": role},
            )
        ],
    )


async def _create(config: Config, name: str, role: str, out: TextIO, err: TextIO) -> int:
    if not valid_token_name(name):
        err.write(f"--name: {name!r}: use 1 to 64 of A-Z a-z 0-9 _ . @ -\n")
        return EXIT_INVALID
    try:
        kind, supplier_id = parse_role(role)
    except ValueError as error:
        err.write(f"--role: {error}\n")
        return EXIT_INVALID
    if kind == Role.SUPPLIER and config.supplier(supplier_id or "") is None:
        err.write(f"--role: no supplier {supplier_id!r} in the config\n")
        return EXIT_INVALID
    if any(t.name == name for t in config.auth.tokens):
        err.write(f"--name: the config already has a token named {name!r}\n")
        return EXIT_INVALID
    token = new_token()
    async with _database(config) as db:
        try:
            await insert_token(
                db,
                name=name,
                role=role,
                digest=token_digest(token),
                created_by=_operator(),
                now=datetime.now(UTC),
            )
        except TokenNameTaken as error:
            err.write(f"--name: {error}\n")
            return EXIT_INVALID
        await _audit(db, "token.create", name, role)
    out.write(token + "\n")
    err.write(
        f"token {name!r} ({role}) created. It is shown only now: keep it in a secret store.\n"
        "Send it as: Authorization: Bearer <token>\n"
    )
    return EXIT_OK


async def _revoke(config: Config, name: str, out: TextIO, err: TextIO) -> int:
    if any(t.name == name for t in config.auth.tokens):
        err.write(f"{name!r} is given in the config: remove it there and restart the gateway\n")
        return EXIT_INVALID
    async with _database(config) as db:
        try:
            await revoke_token(db, name, datetime.now(UTC))
        except NoSuchToken as error:
            err.write(f"{error}\n")
            return EXIT_FAILED
        await _audit(db, "token.revoke", name, "")
    out.write(f"token {name!r} revoked\n")
    return EXIT_OK


async def _list(config: Config, out: TextIO) -> int:
    async with _database(config) as db:
        stored = await list_tokens(db, include_revoked=True)
    out.write(f"{'NAME':<24} {'ROLE':<22} {'SOURCE':<8} CREATED / REVOKED\n")
    for token in config.auth.tokens:
        out.write(f"{token.name:<24} {token.role:<22} {'config':<8} -\n")
    for row in stored:
        state = f"{row.created_at} by {row.created_by}"
        if row.revoked_at:
            state += f", revoked {row.revoked_at}"
        out.write(f"{row.name:<24} {row.role:<22} {'store':<8} {state}\n")
    return EXIT_OK
