"""Sealed transfer: a provider signs a sealed extract and encrypts it to the hub.

One file, ``<name>.sealed.transfer``, a small binary envelope (big-endian lengths)::

    magic          22 bytes  b"familylink-transfer/1\\n"
    header length   4 bytes  unsigned
    header          n bytes  canonical JSON (sorted keys, no spaces, UTF-8), see below
    signature      64 bytes  Ed25519 by the provider over SIGNING_CONTEXT + header
    ephemeral key  32 bytes  the sender's one-time X25519 public key
    nonce          12 bytes  random
    ciphertext     rest      AES-256-GCM of the sealed container, 16-byte tag at the end

The header names the format and version, source, extract date, sealed file name, the
container's SHA-256 and size, the signer's and the recipient hub's key fingerprints and
the algorithms. The signature covers the header and so, through its SHA-256, the
container. The AES key is HKDF-SHA256 (salt: ephemeral public key + hub public key, info:
``HKDF_INFO``) of the X25519 shared secret between the ephemeral key and the hub's key.
Every byte before the ciphertext is associated data, so every byte of the file is
authenticated. The file is deterministic apart from the ephemeral key and the nonce.
All primitives come from ``cryptography``; one container is at most 2 GiB (AES-GCM's
single-message limit there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import familylink
from familylink.core.errors import FamilylinkError, OutputExistsError, Problem, SealedExtractError
from familylink.core.fingerprint import canonical_json
from protocols.keys import HubPublicKey, SigningKey
from protocols.sealed import SEALED_SUFFIX, open_sealed

MAGIC = b"familylink-transfer/1\n"
TRANSFER_FORMAT = "familylink-transfer"
TRANSFER_VERSION = 1
TRANSFER_SUFFIX = ".transfer"
SIGNING_CONTEXT = b"familylink/v1/transfer-header\x00"
HKDF_INFO = b"familylink/v1/transfer-key"
CIPHER = "X25519-HKDF-SHA256-AES-256-GCM"
SIGNATURE = "Ed25519"
SIGNATURE_BYTES = 64
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_HEADER_BYTES = 16 * 1024
MAX_CONTAINER_BYTES = 2**31 - 1 - TAG_BYTES
SEALED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.sealed$")
HEADER_FIELDS = ("format", "version", "source", "extract_date", "sealed_name", "container_sha256",
                 "container_bytes", "signer_fingerprint", "recipient_fingerprint", "cipher", "signature")


class TransferError(FamilylinkError):
    """A sealed extract cannot be prepared for transfer (provider side)."""


@dataclass(frozen=True)
class Envelope:
    """The parts of a transfer file. ``header`` is parsed but NOT yet verified."""

    prefix: bytes  # every byte before the ciphertext: the associated data
    header_bytes: bytes
    header: dict
    signature: bytes
    ephemeral_public: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def signed_message(self) -> bytes:
        return SIGNING_CONTEXT + self.header_bytes


@dataclass(frozen=True)
class Transfer:
    """A transfer file written by ``seal_for_transfer``."""

    path: Path
    source: str
    extract_date: dt.date
    sealed_name: str
    container_sha256: str
    signer_fingerprint: str
    recipient_fingerprint: str


class EnvelopeError(ValueError):
    """The bytes are not a well-formed transfer envelope; ``damaged`` when the magic was right."""

    def __init__(self, what: str, damaged: bool) -> None:
        super().__init__(what)
        self.damaged = damaged


def transfer_path_for(sealed_path: str | Path) -> Path:
    """The transfer file for a sealed file: ``health.sealed`` -> ``health.sealed.transfer``."""
    sealed_path = Path(sealed_path)
    return sealed_path.with_name(sealed_path.name + TRANSFER_SUFFIX)


def derive_key(shared_secret: bytes, ephemeral_public: bytes, hub_public: bytes) -> bytes:
    """The AES-256 key of one transfer: HKDF-SHA256 of the X25519 shared secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + hub_public,
                info=HKDF_INFO).derive(shared_secret)


def build_header(*, source: str, extract_date: dt.date, sealed_name: str, container: bytes,
                 signer_fingerprint: str, recipient_fingerprint: str) -> dict:
    return {
        "format": TRANSFER_FORMAT,
        "version": TRANSFER_VERSION,
        "source": source,
        "extract_date": extract_date.isoformat(),
        "sealed_name": sealed_name,
        "container_sha256": hashlib.sha256(container).hexdigest(),
        "container_bytes": len(container),
        "signer_fingerprint": signer_fingerprint,
        "recipient_fingerprint": recipient_fingerprint,
        "cipher": CIPHER,
        "signature": SIGNATURE,
        "tool": {"name": "familylink", "version": familylink.__version__},
    }


def encode_envelope(header: dict, container: bytes, signing_key: SigningKey,
                    hub_public_key: HubPublicKey) -> bytes:
    """Sign ``header``, encrypt ``container`` to the hub, and lay out the envelope bytes."""
    header_bytes = canonical_json(header)
    signature = signing_key.sign(SIGNING_CONTEXT + header_bytes)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(hub_public_key.raw))
    key = derive_key(shared, ephemeral_public, hub_public_key.raw)
    nonce = os.urandom(NONCE_BYTES)
    prefix = MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + signature + ephemeral_public + nonce
    return prefix + AESGCM(key).encrypt(nonce, container, prefix)


def decode_envelope(data: bytes) -> Envelope:
    """Split transfer bytes into their parts; raises ``EnvelopeError`` when malformed."""
    if not data.startswith(MAGIC):
        raise EnvelopeError("no familylink transfer signature at the start", damaged=False)
    offset = len(MAGIC)
    if len(data) < offset + 4:
        raise EnvelopeError("truncated", damaged=True)
    (length,) = struct.unpack(">I", data[offset:offset + 4])
    offset += 4
    fixed = SIGNATURE_BYTES + KEY_BYTES + NONCE_BYTES + TAG_BYTES
    if length > MAX_HEADER_BYTES or len(data) < offset + length + fixed:
        raise EnvelopeError("bad header length", damaged=True)
    header_bytes = data[offset:offset + length]
    offset += length
    try:
        header = _json_object(header_bytes)
    except (ValueError, RecursionError):
        raise EnvelopeError("header is not readable", damaged=True) from None
    missing = [name for name in HEADER_FIELDS if name not in header]
    if missing or header.get("format") != TRANSFER_FORMAT:
        raise EnvelopeError("header lacks required fields", damaged=True)
    signature = data[offset:offset + SIGNATURE_BYTES]
    offset += SIGNATURE_BYTES
    ephemeral_public = data[offset:offset + KEY_BYTES]
    offset += KEY_BYTES
    nonce = data[offset:offset + NONCE_BYTES]
    offset += NONCE_BYTES
    return Envelope(data[:offset], header_bytes, header, signature, ephemeral_public, nonce, data[offset:])


def _json_object(raw: bytes) -> dict:
    document = json.loads(raw.decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("not an object")
    return document


def seal_for_transfer(sealed_path: str | Path, out_path: str | Path | None = None, *,
                      signing_key: SigningKey, hub_public_key: HubPublicKey, source: str | None = None,
                      extract_date: dt.date | None = None, sealed_name: str | None = None,
                      overwrite: bool = False) -> Transfer:
    """Sign a sealed extract and encrypt it to the hub into one transfer file.

    The sealed file is verified first (``open_sealed``); ``source`` and ``extract_date``
    default to its manifest's and, when given, must equal them. ``out_path`` defaults to
    ``<sealed>.transfer``; ``sealed_name`` (the name the hub gives the extract) to the
    sealed file's name. The output is written atomically and never replaces a file unless
    ``overwrite``.
    """
    sealed_path = Path(sealed_path)
    sealed_name = sealed_name or sealed_path.name
    out_path = Path(out_path) if out_path is not None else transfer_path_for(sealed_path.with_name(sealed_name))
    if out_path.exists() and not overwrite:
        raise OutputExistsError(f"{out_path} already exists",
                                [Problem(str(out_path), "exists", "pass --force to replace it")])
    if not SEALED_NAME.match(sealed_name):
        raise TransferError(f"{sealed_name!r} is not a sealed file name (letters, digits, '.', '_', '-', "
                            f"ending {SEALED_SUFFIX})")
    try:
        extract = open_sealed(sealed_path)
    except SealedExtractError as error:
        raise TransferError(f"{sealed_path.name} cannot be sent: {error.summary}", error.problems) from None
    manifest_date = dt.date.fromisoformat(extract.manifest["extract_date"])
    if source is not None and source != extract.source:
        raise TransferError(f"{sealed_path.name} is an extract of {extract.source!r}, not {source!r}")
    if extract_date is not None and extract_date != manifest_date:
        raise TransferError(f"{sealed_path.name} is dated {manifest_date.isoformat()}, "
                            f"not {extract_date.isoformat()}")
    container = sealed_path.read_bytes()
    if len(container) > MAX_CONTAINER_BYTES:
        raise TransferError(f"{sealed_path.name} is larger than a transfer can carry (2 GiB)",
                            [Problem(sealed_path.name, "too large", "split the extract, e.g. by period")])
    header = build_header(source=extract.source, extract_date=manifest_date, sealed_name=sealed_name,
                          container=container, signer_fingerprint=signing_key.fingerprint,
                          recipient_fingerprint=hub_public_key.fingerprint)
    try:
        write_atomically(out_path, encode_envelope(header, container, signing_key, hub_public_key),
                         overwrite=overwrite)
    except FileExistsError:
        raise OutputExistsError(f"{out_path} already exists",
                                [Problem(str(out_path), "exists", "pass --force to replace it")]) from None
    return Transfer(out_path, extract.source, manifest_date, sealed_name, header["container_sha256"],
                    signing_key.fingerprint, hub_public_key.fingerprint)


def write_atomically(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then move it in
    place; without ``overwrite`` an existing ``path`` is never replaced (FileExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, path)
            return
        try:
            os.link(temp, path)  # atomic, and refuses an existing target
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
