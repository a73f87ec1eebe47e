"""The supplier's SFTP folder, through asyncssh: one connection, opened when first needed and
opened again after it broke, so a server that is away at start-up is an outage, not a crash.

Every operation is bounded by the supplier's `timeout_s`. Failures are sorted as the supplier
actor expects: a network problem or a timeout may pass (`SupplierUnavailable`); a refused login,
an unverifiable host key or a refused write is a configuration problem (`SupplierFailed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncssh
import yarl

from dropship_files.options import FileExchangeOptions
from gateway.plugin_api import SupplierFailed, SupplierUnavailable


class SftpLocation:
    """Where the supplier's folder is: `sftp://user@host:port/path`."""

    def __init__(self, url: str) -> None:
        parsed = yarl.URL(url)
        if parsed.scheme != "sftp" or not parsed.host or not parsed.user:
            raise ValueError(f"expected sftp://user@host[:port]/folder, not {url!r}")
        self.host: str = parsed.host
        self.port: int = parsed.port or 22
        self.username: str = parsed.user
        self.root: str = parsed.path or "/"

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *(part.strip("/") for part in parts))


class Entry:
    """A file in a folder: name, size, modification time."""

    def __init__(self, name: str, size: int, mtime: float) -> None:
        self.name = name
        self.size = size
        self.mtime = mtime


class SftpFolder:
    def __init__(
        self, location: SftpLocation, options: FileExchangeOptions, timeout_s: float
    ) -> None:
        self.location = location
        self._options = options
        self._timeout_s = timeout_s
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._connecting = asyncio.Lock()
        self._posix_rename = True  # until the server says it has no posix-rename extension

    async def close(self) -> None:
        self._drop()
        # The connection's own tasks end once it is closed; wait so nothing is left behind.
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            await connection.wait_closed()

    def _drop(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None

    async def _client(self) -> asyncssh.SFTPClient:
        async with self._connecting:
            if self._sftp is not None:
                return self._sftp
            await self.close()
            options = self._options
            known_hosts: Any
            if options.host_key is not None:
                known_hosts = ([asyncssh.import_public_key(options.host_key)], [], [])
            elif options.known_hosts is not None:
                known_hosts = options.known_hosts
            else:
                known_hosts = None  # insecure_skip_host_key_check
            self._connection = await asyncssh.connect(
                self.location.host,
                self.location.port,
                username=self.location.username,
                password=options.password,
                client_keys=[options.private_key] if options.private_key else None,
                passphrase=options.private_key_passphrase,
                known_hosts=known_hosts,
                agent_path=None,  # never a key from whoever runs the daemon
                connect_timeout=self._timeout_s,
            )
            self._sftp = await self._connection.start_sftp_client()
            for folder in (options.po_folder, options.reply_folder, options.processed_folder):
                # A supplier may have made them and forbid us to: using them will tell.
                with contextlib.suppress(asyncssh.SFTPPermissionDenied):
                    await self._sftp.makedirs(self.location.path(folder), exist_ok=True)
            return self._sftp

    @asynccontextmanager
    async def session(self) -> AsyncIterator[asyncssh.SFTPClient]:
        """The SFTP client for one operation, with errors sorted and the time bounded."""
        try:
            async with asyncio.timeout(self._timeout_s):
                yield await self._client()
        except TimeoutError:
            await self.close()
            raise SupplierUnavailable(f"SFTP: no answer within {self._timeout_s:g}s") from None
        except (asyncssh.PermissionDenied, asyncssh.HostKeyNotVerifiable) as error:
            await self.close()
            reason = (
                "sftp_login_refused"
                if isinstance(error, asyncssh.PermissionDenied)
                else "sftp_host_key_not_verified"
            )
            raise SupplierFailed(reason, str(error.reason)) from None
        except asyncssh.SFTPPermissionDenied as error:
            raise SupplierFailed("sftp_permission_denied", str(error.reason)) from None
        except asyncssh.SFTPError as error:
            if isinstance(error, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
                await self.close()
            raise SupplierUnavailable(f"SFTP: {error.reason}") from None
        except (OSError, asyncssh.Error) as error:
            await self.close()
            message = getattr(error, "reason", None) or str(error) or type(error).__name__
            raise SupplierUnavailable(f"SFTP: {message}") from None

    async def files(self, folder: str) -> list[Entry]:
        """The regular files of `folder`, oldest first (then by name)."""
        async with self.session() as sftp:
            names = await sftp.readdir(self.location.path(folder))
        entries = [
            Entry(
                name=item.filename if isinstance(item.filename, str) else item.filename.decode(),
                size=item.attrs.size or 0,
                mtime=float(item.attrs.mtime or 0),
            )
            for item in names
            if item.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
        ]
        return sorted(entries, key=lambda entry: (entry.mtime, entry.name))

    async def read(self, folder: str, name: str) -> bytes:
        async with self.session() as sftp, sftp.open(self.location.path(folder, name), "rb") as f:
            data: bytes = await f.read()
        return data

    async def write_atomically(self, folder: str, name: str, data: bytes) -> None:
        """Write under a hidden temporary name, then rename: the supplier never sees half a file.
        An existing file of that name (the same PO, sent again) is replaced."""
        temporary = self.location.path(folder, f".{name}.part")
        final = self.location.path(folder, name)
        async with self.session() as sftp:
            async with sftp.open(temporary, "wb") as f:
                await f.write(data)
            await self._rename(sftp, temporary, final, replace=True)

    async def move(self, folder: str, name: str, to_folder: str, to_name: str) -> None:
        """Move a file, never over another: `to_name` must be new in `to_folder`."""
        async with self.session() as sftp:
            await self._rename(
                sftp, self.location.path(folder, name), self.location.path(to_folder, to_name),
                replace=False,
            )  # fmt: skip

    async def exists(self, folder: str, name: str) -> bool:
        async with self.session() as sftp:
            return bool(await sftp.exists(self.location.path(folder, name)))

    async def _rename(
        self, sftp: asyncssh.SFTPClient, source: str, target: str, *, replace: bool
    ) -> None:
        if replace and self._posix_rename:
            try:
                await sftp.posix_rename(source, target)  # OpenSSH's atomic replace
                return
            except asyncssh.SFTPOpUnsupported:
                self._posix_rename = False
        if replace and await sftp.exists(target):
            await sftp.remove(target)
        await sftp.rename(source, target)  # SFTP v3: fails if the target exists
