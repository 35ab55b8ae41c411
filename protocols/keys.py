"""The partnership secret: generation, key files, per-field keys and the key fingerprint.

Per-field keys are derived with HKDF-SHA256 (from ``cryptography``), so a token made for
one field never equals a token made for another field from the same text, and the secret
itself is never used directly. The fingerprint is a keyed hash of a fixed label: it tells
two sites whether they hold the same secret without revealing it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from familylink.core.errors import KeyFileError, OutputExistsError, Problem

KEY_FORMAT = "familylink-key"
KEY_VERSION = 1
SECRET_BYTES = 32
_FINGERPRINT_LABEL = b"familylink/v1/key-fingerprint"
_FIELD_INFO_PREFIX = b"familylink/v1/field/"


@dataclass(frozen=True)
class PartnershipKey:
    """The partnership's shared secret. Its repr never shows the secret."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise KeyFileError(f"the partnership secret must be {SECRET_BYTES * 8} bits")

    @property
    def fingerprint(self) -> str:
        mac = hmac.HMAC(self.secret, hashes.SHA256())
        mac.update(_FINGERPRINT_LABEL)
        return mac.finalize().hex()[:16]

    def field_key(self, purpose: str) -> bytes:
        """A 256-bit key for one field or purpose, derived by HKDF-SHA256."""
        return _derive(self.secret, purpose)

    def __repr__(self) -> str:
        return f"PartnershipKey(fingerprint={self.fingerprint})"


_DERIVED: dict[tuple[bytes, str], bytes] = {}


def _derive(secret: bytes, purpose: str) -> bytes:
    cache_key = (secret, purpose)
    derived = _DERIVED.get(cache_key)
    if derived is None:
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=_FIELD_INFO_PREFIX + purpose.encode("utf-8"),
        ).derive(secret)
        _DERIVED[cache_key] = derived
    return derived


def generate_key() -> PartnershipKey:
    """A new random 256-bit partnership secret."""
    return PartnershipKey(secrets.token_bytes(SECRET_BYTES))


def write_key_file(path: str | Path, key: PartnershipKey) -> None:
    """Write ``key`` to a new file readable only by its owner (mode 0600).

    Refuses to overwrite an existing file: losing a partnership secret makes every sealed
    extract made with it unlinkable to new ones.
    """
    path = Path(path)
    document = {
        "format": KEY_FORMAT,
        "version": KEY_VERSION,
        "kind": "partnership-secret",
        "fingerprint": key.fingerprint,
        "secret": base64.b64encode(key.secret).decode("ascii"),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputExistsError(
            f"{path} already exists: keygen never overwrites a key",
            [Problem(str(path), "file exists", "choose another --out or move the old key away")],
        ) from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot create the key file ({error.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")


def load_key(path: str | Path, check_permissions: bool = True) -> PartnershipKey:
    """Read a partnership key file, refusing files others can read."""
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(
            f"{path}: no key file there",
            [Problem(str(path), "missing", "create one with `familylink keygen --out FILE`")],
        )
    if check_permissions and os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"{path}: the key file is readable by other users (mode {mode:o})",
                [Problem(str(path), "unsafe permissions", f"run `chmod 600 {path}`")],
            )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != KEY_FORMAT or document.get("kind") != "partnership-secret":
            raise ValueError("not a familylink partnership key")
        if document.get("version") != KEY_VERSION:
            raise ValueError(f"unsupported key version {document.get('version')!r}")
        secret = base64.b64decode(document["secret"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise KeyFileError(
            f"{path}: not a familylink partnership key file",
            [Problem(str(path), str(error).split(":")[0], "use the file written by `familylink keygen`")],
        ) from None
    key = PartnershipKey(secret)
    if document.get("fingerprint") not in (None, key.fingerprint):
        raise KeyFileError(f"{path}: the key file is damaged (its fingerprint does not match its secret)")
    return key
