"""A limit on how deeply JSON input may nest, checked in linear time before it is decoded.

msgspec and our own walkers recurse, and a body of 100,000 `[` would otherwise end in a
RecursionError (a 500) or a long stall. No input of ours nests deeper than a handful of levels,
so anything past `MAX_JSON_DEPTH` is refused as malformed.

The check works on the bytes without decoding them: escaped quotes and backslashes are dropped,
everything but brackets and quotes is deleted, the contents of strings are removed, `{}` become
`[]`, and the bracket skeleton left over (`[[],[[]]]`) is decoded by msgspec as a list nested at
most `MAX_JSON_DEPTH` deep. Every step is a single pass in C.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

MAX_JSON_DEPTH = 32

_DELETE_ALL_BUT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
_BRACES_TO_BRACKETS = bytes.maketrans(b"{}", b"[]")


def _nested_lists(depth: int) -> Any:
    """`list[list[...[list[int] of length 0]...]]`, `depth` lists deep."""
    annotation: Any = Annotated[list[int], msgspec.Meta(max_length=0)]
    for _ in range(depth - 1):
        annotation = list[annotation]
    return annotation


_skeleton_decoder = msgspec.json.Decoder(_nested_lists(MAX_JSON_DEPTH))


def exceeds_depth(body: bytes | memoryview) -> bool:
    """Whether `body` nests arrays and objects more than MAX_JSON_DEPTH levels deep.

    False for input that is not JSON at all: the real decoder says what is wrong with that.
    """
    data = bytes(body)
    if b"\\" in data:
        # An escaped backslash first, so that `"\\"` does not leave an escaped quote behind.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(_BRACES_TO_BRACKETS, _DELETE_ALL_BUT_STRUCTURE)
    # Dropping two adjacent quotes keeps every other character on its side of a string
    # boundary (the count of quotes before it keeps its parity), and most strings hold no
    # bracket, so this leaves few quotes for the split below.
    skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])  # the parts outside strings
    if not skeleton:
        return False
    try:
        _skeleton_decoder.decode(skeleton.replace(b"][", b"],["))
    except msgspec.ValidationError:
        return True
    except (msgspec.DecodeError, RecursionError):
        return False  # brackets that do not match: not JSON, which the decoder reports
    return False
