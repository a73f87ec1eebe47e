"""Constrained field types shared by the intake format and the config file.

A `hint` in `Meta.extra` replaces msgspec's generic message (a regex) with words a person
can act on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta

Money = Annotated[
    str,
    Meta(
        pattern=r"^\d{1,13}(\.\d{1,4})?$",
        description='A non-negative decimal amount as a string, such as "19.90".',
        extra={"hint": 'expected a non-negative decimal amount as a string, such as "19.90"'},
    ),
]
Text = Annotated[str, Meta(min_length=1, max_length=200)]
Identifier = Annotated[str, Meta(min_length=1, max_length=128)]
Slug = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        extra={"hint": "expected 1 to 40 of a-z, 0-9 and -, starting with a letter or digit"},
    ),
]
PluginName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        extra={"hint": "expected a plugin name: a-z, 0-9 and _, starting with a letter"},
    ),
]
Phone = Annotated[
    str,
    Meta(
        pattern=r"^\+?[0-9][0-9 \-]{4,24}$",
        extra={"hint": "expected a phone number of digits, spaces and dashes"},
    ),
]
CountryCode = Annotated[
    str, Meta(pattern=r"^[A-Z]{2}$", extra={"hint": "expected an ISO 3166-1 code such as CN"})
]
Currency = Annotated[
    str, Meta(pattern=r"^[A-Z]{3}$", extra={"hint": "expected an ISO 4217 code such as CNY"})
]
ChannelName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        extra={"hint": "expected a channel name of lowercase letters, digits, - and _"},
    ),
]
Quantity = Annotated[int, Meta(gt=0, le=1_000_000)]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
Port = Annotated[int, Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, Meta(gt=0)]
NonNegativeSeconds = Annotated[float, Meta(ge=0)]
