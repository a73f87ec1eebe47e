"""What can go wrong talking to K3Cloud, in the three kinds the channel acts on differently."""

from __future__ import annotations

from dataclasses import dataclass


class KingdeeError(Exception):
    """Anything the K3Cloud WebAPI did not do."""


class KingdeeUnavailable(KingdeeError):
    """May pass by itself: the server is unreachable, answers 5xx or garbage, or holds us to a
    call limit (MsgCode 14). Try again later (`retry_after` seconds, when known)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KingdeeAuthFailed(KingdeeError):
    """The account, user, app id or secret is refused: a person has to fix the config."""


@dataclass(frozen=True)
class ErrorItem:
    """One of ``Result.ResponseStatus.Errors``: which field, what K3Cloud says, which bill of
    the call (``DIndex``)."""

    field_name: str | None
    message: str
    index: int = 0

    def __str__(self) -> str:
        return f"{self.field_name}: {self.message}" if self.field_name else self.message


class KingdeeBusinessError(KingdeeError):
    """K3Cloud refused the operation for a reason about the data (``IsSuccess = false``): the
    same call will fail again until someone changes the data or the config."""

    def __init__(self, operation: str, errors: tuple[ErrorItem, ...], msg_code: int) -> None:
        self.operation = operation
        self.errors = errors
        self.msg_code = msg_code
        text = "; ".join(str(e) for e in errors) or "IsSuccess = false without a message"
        super().__init__(f"{operation}: {text} (MsgCode {msg_code})")

    @property
    def message(self) -> str:
        return "; ".join(str(e) for e in self.errors)
