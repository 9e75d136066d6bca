"""The API key format: recognisable and checkable offline, as GitHub's tokens are.

``pyl_`` + 30 base62 characters drawn by ``secrets`` (≈178 bits) + 6 base62 characters of the CRC32
of the random part. A secret scanner (or a client) can tell a Pylon key from a typo without asking
the server; the server stores only a SHA-256 of the whole key (a fast hash is right for a secret
this random: there is nothing to brute-force) and a short non-secret ``prefix`` to find the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

KEY_PREFIX = "pyl_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
#: Characters of the key kept in clear to find its row and to show it (``pyl_`` + 8 random ones).
LOOKUP_LENGTH = len(KEY_PREFIX) + 8


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def key_generate() -> str:
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{random_part}{checksum(random_part)}"


def looks_like_key(value: str) -> bool:
    """Whether the caller meant an API key (rather than a JWT), before checking it."""
    return value.startswith(KEY_PREFIX)


def key_is_well_formed(key: str) -> bool:
    """Prefix, length, alphabet and checksum: a typo or truncation fails here, offline."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    body = key[len(KEY_PREFIX) :]
    if any(char not in BASE62 for char in body):
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(checksum(random_part), check)


def key_lookup_prefix(key: str) -> str:
    return key[:LOOKUP_LENGTH]


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)
