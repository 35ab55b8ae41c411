"""Key files: the partnership secret, provider signing keys and the hub's key pair.

Per-field keys are derived with HKDF-SHA256 (from ``cryptography``), so a token made for
one field never equals a token made for another field from the same text, and the secret
itself is never used directly. The fingerprint is a keyed hash of a fixed label: it tells
two sites whether they hold the same secret without revealing it.

Sealed transfer (``protocols.transfer``) adds two key pairs, made by
``familylink keygen --kind signing|hub --out FILE``:

* ``signing``: an Ed25519 private key in FILE (the provider keeps it) and its public key in
  FILE.pub (registered with the hub, see ``protocols.intake.ProviderRegistry``);
* ``hub``: an X25519 private key in FILE (the hub keeps it) and its public key in FILE.pub
  (given to every provider, ``pseudonymise --encrypt-to FILE.pub``).

Every key file is one JSON document ``{"format": "familylink-key", "version": 1, "kind":
..., "fingerprint": ...}``; kinds ``partnership-secret`` (``secret``), ``signing-private``
and ``hub-private`` (``private_key`` and ``public_key``, raw 32 bytes in base64, mode 0600)
and ``signing-public`` and ``hub-public`` (``public_key`` only). A public key's fingerprint
is the first 32 hex digits of SHA-256 over a label and the raw key. No key file is ever
overwritten, and loading names the kind of file found when it is the wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
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
#: Files that mark a folder as holding data (raw or sealed extracts): no key is written there.
_DATA_PATTERNS = ("*.sealed", "*.sealed.transfer", "*.csv", "*.xlsx", "*.parquet")


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


def write_key_file(path: str | Path, key: PartnershipKey, replaces: str | None = None) -> None:
    """Write ``key`` to a new file readable only by its owner (mode 0600).

    Refuses to overwrite an existing file: losing a partnership secret makes every sealed
    extract made with it unlinkable to new ones. ``replaces`` (a rotation) records the
    fingerprint of the key this one replaces, never that key itself.
    """
    document = {
        "format": KEY_FORMAT,
        "version": KEY_VERSION,
        "kind": "partnership-secret",
        "fingerprint": key.fingerprint,
        "secret": base64.b64encode(key.secret).decode("ascii"),
    }
    if replaces is not None:
        document["replaces"] = replaces
    _create(Path(path), document, 0o600)


def rotate_key(old_path: str | Path, new_path: str | Path) -> tuple[PartnershipKey, PartnershipKey]:
    """Key rotation: a new random partnership key in ``new_path`` that records the fingerprint
    of the key in ``old_path`` it replaces. Returns (old, new). The old file is left as it is:
    the operator archives it offline (it is needed only to re-read extracts sealed with it).

    Refuses when ``new_path`` exists, or when its folder holds extracts (raw or sealed): a key
    never sits beside data.
    """
    old_path, new_path = Path(old_path), Path(new_path)
    old = load_key(old_path)
    if new_path.exists():
        raise _exists(new_path)
    folder = new_path.parent if str(new_path.parent) else Path(".")
    beside = sorted(p.name for pattern in _DATA_PATTERNS for p in folder.glob(pattern))
    if beside:
        raise KeyFileError(f"{new_path}: a key must not be written beside data ({beside[0]} is in {folder})",
                           [Problem(str(new_path), "key beside data", "write the key to a keys folder of its own")])
    new = generate_key()
    write_key_file(new_path, new, replaces=old.fingerprint)
    return old, new


def load_key(path: str | Path, check_permissions: bool = True) -> PartnershipKey:
    """Read a partnership key file, refusing files others can read."""
    path = Path(path)
    document = _read_document(path, "partnership-secret", check_permissions)
    try:
        secret = base64.b64decode(document["secret"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise KeyFileError(
            f"{path}: not a familylink partnership key file",
            [Problem(str(path), "bad secret", "use the file written by `familylink keygen`")],
        ) from None
    key = PartnershipKey(secret)
    if document.get("fingerprint") not in (None, key.fingerprint):
        raise KeyFileError(f"{path}: the key file is damaged (its fingerprint does not match its secret)")
    return key

# --- signing and hub key pairs ---------------------------------------------------------------

_PUBLIC_LABEL = b"familylink/v1/public-key/"
KIND_LABELS = {
    "partnership-secret": "partnership key",
    "signing-private": "provider signing key (private)",
    "signing-public": "provider signing public key (.pub)",
    "hub-private": "hub private key",
    "hub-public": "hub public key (.pub)",
}
_MAKE = {
    "partnership-secret": "familylink keygen --out FILE",
    "signing-private": "familylink keygen --kind signing --out FILE",
    "signing-public": "the FILE.pub written by `familylink keygen --kind signing`",
    "hub-private": "familylink keygen --kind hub --out FILE",
    "hub-public": "the FILE.pub written by `familylink keygen --kind hub`",
}


def public_fingerprint(algorithm: str, raw: bytes) -> str:
    """The fingerprint of a public key: 32 hex digits of SHA-256 over a label and the key."""
    return hashlib.sha256(_PUBLIC_LABEL + algorithm.encode("ascii") + b"/" + raw).hexdigest()[:32]


@dataclass(frozen=True)
class SigningPublicKey:
    """A provider's Ed25519 public key, as registered with the hub."""

    raw: bytes

    @property
    def fingerprint(self) -> str:
        return public_fingerprint("Ed25519", self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"SigningPublicKey(fingerprint={self.fingerprint})"


@dataclass(frozen=True)
class SigningKey:
    """A provider's Ed25519 private key. Its repr never shows the key."""

    private: Ed25519PrivateKey = field(repr=False)

    @property
    def public(self) -> SigningPublicKey:
        return SigningPublicKey(_raw_public(self.private.public_key()))

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint})"


@dataclass(frozen=True)
class HubPublicKey:
    """The hub's X25519 public key: providers encrypt transfers to it."""

    raw: bytes

    @property
    def fingerprint(self) -> str:
        return public_fingerprint("X25519", self.raw)

    def key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.raw)

    def __repr__(self) -> str:
        return f"HubPublicKey(fingerprint={self.fingerprint})"


@dataclass(frozen=True)
class HubKey:
    """The hub's X25519 private key. Its repr never shows the key."""

    private: X25519PrivateKey = field(repr=False)

    @property
    def public(self) -> HubPublicKey:
        return HubPublicKey(_raw_public(self.private.public_key()))

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def __repr__(self) -> str:
        return f"HubKey(fingerprint={self.fingerprint})"


def _raw_public(public) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(private) -> bytes:
    return private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())


def generate_signing_key() -> SigningKey:
    """A new Ed25519 signing key for one provider."""
    return SigningKey(Ed25519PrivateKey.generate())


def generate_hub_key() -> HubKey:
    """A new X25519 key pair for the hub."""
    return HubKey(X25519PrivateKey.generate())


def public_key_path(path: str | Path) -> Path:
    """Where keygen writes the public half of the key pair in ``path``: ``path`` + ``.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".pub")


def _pair_documents(key: SigningKey | HubKey) -> tuple[dict, dict]:
    kind, algorithm = ("signing", "Ed25519") if isinstance(key, SigningKey) else ("hub", "X25519")
    public = {
        "format": KEY_FORMAT, "version": KEY_VERSION, "kind": f"{kind}-public", "algorithm": algorithm,
        "fingerprint": key.fingerprint, "public_key": base64.b64encode(key.public.raw).decode("ascii"),
    }
    private = {**public, "kind": f"{kind}-private",
               "private_key": base64.b64encode(_raw_private(key.private)).decode("ascii")}
    return private, public


def write_key_pair(path: str | Path, key: SigningKey | HubKey) -> Path:
    """Write the private key to ``path`` (mode 0600) and its public key to ``path.pub``.

    Refuses when either file exists, before writing anything; returns the public file.
    """
    path = Path(path)
    public_path = public_key_path(path)
    for target in (path, public_path):
        if target.exists():
            raise _exists(target)
    private_document, public_document = _pair_documents(key)
    _create(path, private_document, 0o600)
    try:
        _create(public_path, public_document, 0o644)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return public_path


def load_signing_key(path: str | Path, check_permissions: bool = True) -> SigningKey:
    """Read a provider's private signing key file (mode 0600)."""
    path = Path(path)
    document = _read_document(path, "signing-private", check_permissions)
    private = Ed25519PrivateKey.from_private_bytes(_decode(path, document, "private_key", "signing-private"))
    key = SigningKey(private)
    _check_pair(path, document, key.public.raw, key.fingerprint)
    return key


def load_hub_key(path: str | Path, check_permissions: bool = True) -> HubKey:
    """Read the hub's private key file (mode 0600)."""
    path = Path(path)
    document = _read_document(path, "hub-private", check_permissions)
    key = HubKey(X25519PrivateKey.from_private_bytes(_decode(path, document, "private_key", "hub-private")))
    _check_pair(path, document, key.public.raw, key.fingerprint)
    return key


def load_signing_public_key(path: str | Path) -> SigningPublicKey:
    """Read a provider's signing public key file (FILE.pub of ``keygen --kind signing``)."""
    path = Path(path)
    document = _read_document(path, "signing-public", False)
    key = SigningPublicKey(_decode(path, document, "public_key", "signing-public"))
    _check_fingerprint(path, document, key.fingerprint)
    return key


def load_hub_public_key(path: str | Path) -> HubPublicKey:
    """Read the hub's public key file (FILE.pub of ``keygen --kind hub``)."""
    path = Path(path)
    document = _read_document(path, "hub-public", False)
    key = HubPublicKey(_decode(path, document, "public_key", "hub-public"))
    _check_fingerprint(path, document, key.fingerprint)
    return key


def signing_public_key_from_text(text: str, where: str, fingerprint: str | None = None) -> SigningPublicKey:
    """A signing public key from its base64 text (e.g. in providers.yaml), checked against
    its fingerprint when one is given."""
    try:
        raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise KeyFileError(f"{where}: not an Ed25519 public key in base64",
                           [Problem(where, "bad public_key", f"copy public_key from {_MAKE['signing-public']}")]) from None
    key = SigningPublicKey(raw)
    if fingerprint is not None and fingerprint != key.fingerprint:
        raise KeyFileError(f"{where}: the fingerprint does not match the public key",
                           [Problem(where, "fingerprint mismatch", "check both against the provider's FILE.pub")])
    return key


def _exists(path: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{path} already exists: keygen never overwrites a key",
        [Problem(str(path), "file exists", "choose another --out or move the old key away")],
    )


def _create(path: Path, document: dict, mode: int) -> None:
    """Write ``document`` to a new file with ``mode``; never replaces an existing file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot create the key file ({error.strerror})") from None
    if os.name == "posix":
        os.fchmod(descriptor, mode)  # the umask may have narrowed a public file's mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")


def _read_document(path: Path, kind: str, check_permissions: bool) -> dict:
    """The JSON document of a key file of ``kind``, refusing missing, unsafe or wrong files."""
    label = KIND_LABELS[kind]
    if not path.is_file():
        raise KeyFileError(f"{path}: no key file there",
                           [Problem(str(path), "missing", f"use {_MAKE[kind]}")])
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise ValueError("not a familylink key file")
    except (ValueError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: not a familylink {label} file",
                           [Problem(str(path), str(error).split(":")[0], f"use {_MAKE[kind]}")]) from None
    found = document.get("kind")
    if found != kind:
        what = KIND_LABELS.get(found, "unknown kind of key") if isinstance(found, str) else "unknown kind of key"
        raise KeyFileError(f"{path}: this is a {what} file, not a {label} file",
                           [Problem(str(path), f"wrong kind of key: {what}", f"use {_MAKE[kind]}")])
    if document.get("version") != KEY_VERSION:
        raise KeyFileError(f"{path}: unsupported {label} file version {document.get('version')!r}",
                           [Problem(str(path), "unsupported version", f"use {_MAKE[kind]}")])
    if check_permissions and os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"{path}: the key file is readable by other users (mode {mode:o})",
                [Problem(str(path), "unsafe permissions", f"run `chmod 600 {path}`")],
            )
    return document


def _decode(path: Path, document: dict, name: str, kind: str) -> bytes:
    try:
        raw = base64.b64decode(document[name], validate=True)
    except (KeyError, TypeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyFileError(f"{path}: the {KIND_LABELS[kind]} file is damaged (no valid {name})",
                           [Problem(str(path), f"bad {name}", f"use {_MAKE[kind]}")])
    return raw


def _check_fingerprint(path: Path, document: dict, fingerprint: str) -> None:
    if document.get("fingerprint") not in (None, fingerprint):
        raise KeyFileError(f"{path}: the key file is damaged (its fingerprint does not match its key)")


def _check_pair(path: Path, document: dict, public_raw: bytes, fingerprint: str) -> None:
    _check_fingerprint(path, document, fingerprint)
    stored = document.get("public_key")
    if stored is not None and stored != base64.b64encode(public_raw).decode("ascii"):
        raise KeyFileError(f"{path}: the key file is damaged (its public key does not match its private key)")
