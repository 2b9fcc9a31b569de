"""Short stuff codes derived from a seed and a counter: deterministic, so workflow replays agree. Pure."""

from __future__ import annotations

import hashlib
from typing import Final

_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CODE_LENGTH: Final = 5


class StuffCodes:
    """Hands out 5-character codes (the reference's length); the same seed yields the same sequence."""

    __slots__ = ("_count", "_seed")

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode()
        self._count = 0

    def next_code(self) -> str:
        self._count += 1
        digest = hashlib.blake2b(self._seed + self._count.to_bytes(8, "big"), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        chars: list[str] = []
        for _ in range(CODE_LENGTH):
            number, index = divmod(number, len(_ALPHABET))
            chars.append(_ALPHABET[index])
        return "".join(chars)
