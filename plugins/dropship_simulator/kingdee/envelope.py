"""The answers K3Cloud gives, as JSON-ready dicts.

Every business call answers HTTP 200; success or failure is in ``Result.ResponseStatus``:
``IsSuccess``, ``Errors`` (``FieldName``, ``Message``, ``DIndex``: which bill of a batch),
``SuccessEntitys`` (``Id``, ``Number``, ``DIndex``) and ``MsgCode`` (0 fine, 1 the session
context is lost, 14 a call limit was hit, others for data problems). ExecuteBillQuery answers
a bare array of rows, and its failure is that envelope wrapped in two arrays.
"""

from __future__ import annotations

from typing import Any

SESSION_LOST = 1
CALL_LIMIT = 14
SESSION_LOST_MESSAGE = "会话信息已丢失，请重新登录"


def error_item(message: str, field_name: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"FieldName": field_name, "Message": message, "DIndex": index}


def response_status(
    errors: list[dict[str, Any]] | None = None,
    successes: list[dict[str, Any]] | None = None,
    msg_code: int = 0,
) -> dict[str, Any]:
    errors = errors or []
    return {
        "ErrorCode": 500 if errors else 0,
        "IsSuccess": not errors,
        "Errors": errors,
        "SuccessEntitys": successes or [],
        "SuccessMessages": [],
        "MsgCode": msg_code,
    }


def failure(message: str, field_name: str | None = None, msg_code: int = 4) -> dict[str, Any]:
    return {
        "Result": {
            "ResponseStatus": response_status([error_item(message, field_name)], msg_code=msg_code)
        }
    }


def query_failure(message: str, field_name: str | None = None, msg_code: int = 4) -> list[Any]:
    """ExecuteBillQuery's failure shape: the envelope inside two arrays."""
    return [[failure(message, field_name, msg_code)]]


def success_entity(fid: int, number: str, index: int = 0) -> dict[str, Any]:
    return {"Id": fid, "Number": number, "DIndex": index}
