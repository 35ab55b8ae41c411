"""Keyed encoders: HMAC-SHA256 tokens and keyed Bloom filters.

Both are pure functions of (key, value) and cache per distinct value, because extracts
repeat the same names, dates and addresses many times (one row per event).

Bloom filters follow Schnell et al.'s cryptographic long-term keys, with "random hashing"
(Niedermeyer et al. 2014) rather than double hashing: each q-gram's k bit positions are
read from independent 16-bit slices of HMAC-SHA256(field key, q-gram), which removes the
arithmetic structure that pattern-mining attacks on double hashing exploit. A filter is
stored as ``bits / 8`` bytes, big-endian (bit ``p`` is ``1 << p`` of the integer), so the
hub can compute Dice coefficients with popcounts over fixed-width bitsets.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from protocols.normalise import bigrams

_MAX_CACHE = 1_000_000


class TokenEncoder:
    """HMAC-SHA256 of a normalised value under one field key, truncated, as hex."""

    def __init__(self, key: bytes, token_bytes: int = 16) -> None:
        if not 8 <= token_bytes <= 32:
            raise ValueError("token_bytes must be between 8 and 32")
        self._key = key
        self._length = token_bytes
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the key
        return f"TokenEncoder(token_bytes={self._length})"

    def encode(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        token = self._cache.get(value)
        if token is None:
            token = hmac.digest(self._key, value.encode("utf-8"), "sha256")[: self._length].hex()
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[value] = token
        return token

    def encode_many(self, values: Iterable[str | None]) -> list[str | None]:
        encode = self.encode
        return [encode(v) for v in values]


class BloomEncoder:
    """A keyed Bloom filter of a string's padded q-grams (q = 2)."""

    def __init__(self, key: bytes, bits: int, hashes: int) -> None:
        if bits < 64 or bits > 65536 or bits & (bits - 1):
            raise ValueError("bits must be a power of two between 64 and 65536")
        if not 1 <= hashes <= 64:
            raise ValueError("hashes must be between 1 and 64")
        self._key = key
        self.bits = bits
        self.hashes = hashes
        self.width = bits // 8
        self._gram_masks: dict[str, int] = {}
        self._cache: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"BloomEncoder(bits={self.bits}, hashes={self.hashes})"

    def _gram_mask(self, gram: str) -> int:
        mask = self._gram_masks.get(gram)
        if mask is None:
            mask = 0
            positions = 0
            block = 0
            while positions < self.hashes:
                message = gram.encode("utf-8") + (b"" if block == 0 else b"\x00" + bytes([block]))
                digest = hmac.digest(self._key, message, "sha256")
                for offset in range(0, 32, 2):
                    if positions == self.hashes:
                        break
                    mask |= 1 << (int.from_bytes(digest[offset : offset + 2], "big") % self.bits)
                    positions += 1
                block += 1
            self._gram_masks[gram] = mask
        return mask

    def positions(self, text: str) -> frozenset[int]:
        """The set bit positions of ``text``'s filter (for tests and attacks)."""
        value = self._as_int(text)
        return frozenset(p for p in range(self.bits) if value >> p & 1)

    def _as_int(self, text: str) -> int:
        acc = 0
        for gram in bigrams(text):
            acc |= self._gram_mask(gram)
        return acc

    def encode(self, text: str | None) -> bytes | None:
        if text is None or text == "":
            return None
        encoded = self._cache.get(text)
        if encoded is None:
            encoded = self._as_int(text).to_bytes(self.width, "big")
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[text] = encoded
        return encoded

    def encode_many(self, values: Iterable[str | None]) -> list[bytes | None]:
        encode = self.encode
        return [encode(v) for v in values]


def dice(a: bytes, b: bytes) -> float:
    """Dice coefficient of two equal-width filters (reference implementation for tests)."""
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 0.0 if total == 0 else 2 * (x & y).bit_count() / total
