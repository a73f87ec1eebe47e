"""A real SFTP server on 127.0.0.1 over a local folder (asyncssh's server): the door of the
file-exchange supplier stand-in, and what the `file_exchange` adapter's tests talk to.

It speaks SFTP as OpenSSH does, posix-rename extension included, confined to its folder. A test
can hold renames (to stop the adapter halfway through moving files), stop the server (an
outage: listener and open connections gone) and start it again on the same port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import asyncssh


class _Gate:
    """Renames done so far (with the renamed file's content), an optional hold on the ones
    after the n-th, and connections to drop at the next rename."""

    def __init__(self) -> None:
        self.renamed: list[tuple[str, str]] = []
        self.contents: list[bytes] = []
        self.changed = asyncio.Condition()
        self.hold_after: int | None = None
        self.held = 0
        self.released = asyncio.Event()
        self.fail_held = False
        self.hang_up_next = 0

    async def before_rename(self, session: _SftpSession) -> None:
        if self.hang_up_next:
            self.hang_up_next -= 1
            async with self.changed:
                self.held += 1
                self.changed.notify_all()
            session.channel.get_connection().abort()
            raise asyncssh.SFTPConnectionLost("hung up")  # the client never reads this answer
        if self.hold_after is not None and len(self.renamed) >= self.hold_after:
            async with self.changed:
                self.held += 1
                self.changed.notify_all()
            await self.released.wait()
            if self.fail_held:
                raise asyncssh.SFTPFailure("the server went down before renaming")

    async def after_rename(self, old: bytes, new: bytes, content: bytes) -> None:
        async with self.changed:
            self.renamed.append((old.decode(errors="replace"), new.decode(errors="replace")))
            self.contents.append(content)
            self.changed.notify_all()


class _SftpSession(asyncssh.SFTPServer):
    def __init__(self, channel: asyncssh.SSHServerChannel[bytes], root: Path, gate: _Gate) -> None:
        super().__init__(channel, chroot=str(root).encode())
        self._gate = gate

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._gate.before_rename(self)
        super().rename(oldpath, newpath)
        await self._gate.after_rename(oldpath, newpath, self._content(newpath))

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._gate.before_rename(self)
        super().posix_rename(oldpath, newpath)
        await self._gate.after_rename(oldpath, newpath, self._content(newpath))

    def _content(self, path: bytes) -> bytes:
        with open(self.map_path(path), "rb") as file:
            return file.read()


class _Logins(asyncssh.SSHServer):
    def __init__(
        self,
        users: dict[str, str],
        connections: set[asyncssh.SSHServerConnection],
        refused: Callable[[], bool],
    ):
        self._users = users
        self._connections = connections
        self._refused = refused
        self._connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connection = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self._refused():
            return False
        return username in self._users and self._users[username] == password


class SftpServer:
    """`async with SftpServer(folder, users={"acme": "secret"}) as server:` serves `folder` as
    the root of every user's SFTP session on `server.port`."""

    def __init__(
        self,
        root: Path,
        *,
        users: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        host_key_file: Path | None = None,
    ) -> None:
        self.root = root
        self.host = host
        self.port = port
        self._users = users
        self._host_key_file = host_key_file
        self._key: asyncssh.SSHKey | None = None
        self._listener: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._gate = _Gate()
        self.refuse_logins = False  # as if the password had been changed at the supplier

    # -- identity -------------------------------------------------------------------------------

    @property
    def host_key(self) -> str:
        """The server's public host key, `ssh-ed25519 AAAA...`: what the adapter's `host_key`
        option takes."""
        return self._host_key().export_public_key().decode().strip()

    def known_hosts_line(self) -> str:
        """The line of an OpenSSH known_hosts file that trusts this server."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.host_key}\n"

    def url(self, username: str, folder: str = "/") -> str:
        return f"sftp://{username}@{self.host}:{self.port}{folder}"

    def _host_key(self) -> asyncssh.SSHKey:
        """A host key kept in `host_key_file` when given (so clients trust it across restarts),
        else made for this server's life."""
        if self._key is None:
            path = self._host_key_file
            if path is not None and path.exists():
                self._key = asyncssh.read_private_key(str(path))
            else:
                self._key = asyncssh.generate_private_key("ssh-ed25519")
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._key.write_private_key(str(path))
        return self._key

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._listener = await asyncssh.listen(
            self.host,
            self.port,
            server_host_keys=[self._host_key()],
            server_factory=lambda: _Logins(
                self._users, self._connections, lambda: self.refuse_logins
            ),
            sftp_factory=lambda channel: _SftpSession(channel, self.root, self._gate),
            allow_scp=False,
        )
        self.port = self._listener.get_port()

    async def stop(self) -> None:
        """Close the listener and every open connection (an outage, from the client's side)."""
        self.release_renames(fail=True)
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        for connection in list(self._connections):
            connection.close()
            await connection.wait_closed()

    async def __aenter__(self) -> SftpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- controls for tests ---------------------------------------------------------------------

    @property
    def renamed(self) -> list[tuple[str, str]]:
        """Every rename done, `(old, new)`, paths as the client saw them."""
        return list(self._gate.renamed)

    def hold_renames_after(self, count: int) -> None:
        """Let `count` more renames happen, then hold every later one until `release_renames`."""
        self._gate.hold_after = len(self._gate.renamed) + count
        self._gate.released.clear()

    def hang_up_at_next_rename(self) -> None:
        """Drop the connection when the next rename arrives, without answering it."""
        self._gate.hang_up_next += 1

    @property
    def renamed_contents(self) -> list[tuple[str, bytes]]:
        """Every renamed file's new path and its content right after the rename."""
        pairs = zip(self._gate.renamed, self._gate.contents, strict=True)
        return [(new, data) for (_, new), data in pairs]

    def release_renames(self, *, fail: bool = False) -> None:
        """Let held renames go on; `fail=True` makes them fail instead, undone, as if the server
        had gone down with them (their client may be gone already)."""
        self._gate.hold_after = None
        self._gate.fail_held = fail
        self._gate.released.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait for a condition on renames (`lambda: server.held_renames == 1`); bound it with
        `asyncio.timeout` where a test must not hang."""
        async with self._gate.changed:
            await self._gate.changed.wait_for(predicate)

    @property
    def held_renames(self) -> int:
        return self._gate.held
