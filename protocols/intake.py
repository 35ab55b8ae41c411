"""Hub intake of sealed transfers: verify, decrypt, refuse what cannot be trusted.

``receive_transfer`` checks, in this order, and refuses with ``IntakeRefused`` (one
sentence, a ``reason`` code, never a data value) at the first failure:

1. the file is a transfer envelope (``not_transfer``; ``tampered`` when it is one but broken);
2. the header's source has a registered provider key (``unregistered``);
3. the Ed25519 signature over the header verifies with a key registered for that source
   (``bad_signature``; ``tampered`` when the header names a registered key but the
   signature fails, i.e. the header or signature was altered);
4. the header names this hub's key (``wrong_hub_key``), and the ciphertext decrypts and
   authenticates with it and matches the header's SHA-256 (``tampered``);
5. the content is a valid sealed extract (``invalid_extract``) whose manifest has the
   header's source and extract date (``header_mismatch``);
6. the extract date is after the last one accepted for the source (``replay``);
7. the output does not exist yet (``output_exists``).

Then the verified ``.sealed`` is written atomically into the output folder under the name
the header gives. The caller records accepted and refused transfers in the audit log and
keeps ``last_accepted`` (source -> extract date) in the run store.

Registered provider keys (``ProviderRegistry.load``) come from a folder or a YAML file:

* a folder (default ``config/providers``) of the providers' ``FILE.pub`` files named
  ``<source>.pub`` (or ``<source>.<label>.pub``, e.g. a second key while rotating), plus
  an optional ``providers.yaml`` in it;
* ``providers.yaml``: ``providers: {<source>: {public_key: <base64>, fingerprint: <hex>}}``,
  where a source may also list several such entries; the fingerprint is checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from familylink.core.errors import ConfigError, FamilylinkError, Problem, SealedExtractError
from familylink.core.paths import config_dir
from protocols.keys import (
    HubKey,
    SigningPublicKey,
    load_signing_public_key,
    signing_public_key_from_text,
)
from protocols.sealed import SEALED_SUFFIX, open_sealed
from protocols.transfer import (
    CIPHER,
    SEALED_NAME,
    TRANSFER_SUFFIX,
    TRANSFER_VERSION,
    EnvelopeError,
    decode_envelope,
    derive_key,
)

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
REGISTRY_YAML = ("providers.yaml", "providers.yml")
_RESEND = "ask the provider to send it again"


class Reason(StrEnum):
    """Why a transfer was refused (stable codes for the audit log)."""

    NOT_TRANSFER = "not_transfer"
    TAMPERED = "tampered"
    UNREGISTERED = "unregistered"
    BAD_SIGNATURE = "bad_signature"
    WRONG_HUB_KEY = "wrong_hub_key"
    INVALID_EXTRACT = "invalid_extract"
    HEADER_MISMATCH = "header_mismatch"
    REPLAY = "replay"
    OUTPUT_EXISTS = "output_exists"


class IntakeRefused(FamilylinkError):
    """A transfer the hub refuses. ``source`` and ``extract_date`` are what the file claims
    (verified only for ``replay``, ``header_mismatch`` and ``output_exists``)."""

    def __init__(self, reason: Reason | str, summary: str, problems: Iterable[Problem] = (),
                 path: Path | None = None, source: str | None = None,
                 extract_date: dt.date | None = None) -> None:
        self.reason = Reason(reason)
        self.path = path
        self.source = source
        self.extract_date = extract_date
        super().__init__(summary, problems)

    def __reduce__(self):
        return (self.__class__, (self.reason, self.summary, self.problems, self.path, self.source,
                                 self.extract_date))

    def audit_details(self) -> dict:
        """What the audit log records of a refusal (no data values, no key material)."""
        return {"file": self.path.name if self.path else None, "reason": self.reason.value,
                "message": self.summary, "claimed_source": self.source,
                "claimed_extract_date": self.extract_date.isoformat() if self.extract_date else None}


@dataclass(frozen=True)
class Received:
    """A transfer accepted by ``receive_transfer``: the verified sealed extract written."""

    source: str
    extract_date: dt.date
    sealed_path: Path
    container_sha256: str
    signer_fingerprint: str
    transfer_path: Path | None = None
    content_sha256: str = ""  # the data's SHA-256 from the sealed manifest

    def audit_details(self) -> dict:
        """What the audit log records of an accepted transfer (hashes, names, dates)."""
        return {"file": self.transfer_path.name if self.transfer_path else None,
                "sealed": self.sealed_path.name, "source": self.source,
                "extract_date": self.extract_date.isoformat(), "container_sha256": self.container_sha256,
                "manifest_content_sha256": self.content_sha256, "signer_fingerprint": self.signer_fingerprint}


@dataclass(frozen=True)
class ProviderRegistry:
    """The provider public keys the hub accepts, per source."""

    keys: Mapping[str, tuple[SigningPublicKey, ...]] = field(default_factory=dict)
    origin: str = ""

    @classmethod
    def from_keys(cls, keys: Mapping[str, SigningPublicKey | Iterable[SigningPublicKey]],
                  origin: str = "") -> ProviderRegistry:
        entries: dict[str, tuple[SigningPublicKey, ...]] = {}
        for source, value in keys.items():
            _check_source(source, origin or "registry")
            entries[source] = (value,) if isinstance(value, SigningPublicKey) else tuple(value)
        return cls(entries, origin)

    @classmethod
    def load(cls, path: str | Path | None = None) -> ProviderRegistry:
        """Load a folder of ``<source>.pub`` files (and its providers.yaml) or a YAML file."""
        path = Path(path) if path is not None else default_providers_dir()
        found: dict[str, list[SigningPublicKey]] = {}
        if path.is_dir():
            for pub in sorted(path.glob("*.pub")):
                source = pub.name.split(".")[0]
                _check_source(source, str(pub))
                found.setdefault(source, []).append(load_signing_public_key(pub))
            for name in REGISTRY_YAML:
                if (path / name).is_file():
                    _merge(found, _load_yaml(path / name))
        elif path.is_file():
            _merge(found, _load_yaml(path))
        else:
            raise ConfigError(f"{path}: no provider registry there",
                              [Problem(str(path), "missing", "put each provider's FILE.pub there as <source>.pub")])
        if not found:
            raise ConfigError(f"{path}: no registered provider keys",
                              [Problem(str(path), "empty", "add <source>.pub files or a providers.yaml")])
        return cls.from_keys(found, str(path))

    def keys_for(self, source: str) -> tuple[SigningPublicKey, ...]:
        return self.keys.get(source, ())

    @property
    def sources(self) -> list[str]:
        return sorted(self.keys)

    def fingerprints(self) -> dict[str, list[str]]:
        """source -> fingerprints of its registered keys (for display and the audit log)."""
        return {source: [key.fingerprint for key in self.keys[source]] for source in self.sources}


def default_providers_dir() -> Path:
    """The registry folder in use: ``config/providers`` (see ``familylink.core.paths``)."""
    return config_dir() / "providers"


def _check_source(source: object, where: str) -> None:
    if not isinstance(source, str) or not SOURCE_NAME.match(source):
        raise ConfigError(f"{where}: {source!r} is not a source name (lower-case letters, digits, '_')")


def _load_yaml(path: Path) -> dict[str, list[SigningPublicKey]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise ConfigError(f"{path}: not readable YAML ({type(error).__name__})",
                          [Problem(str(path), "not YAML text", "see protocols/intake.py for the format")]) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    providers = document.get("providers") if isinstance(document, dict) else None
    if not isinstance(providers, dict):
        raise ConfigError(f"{path}: expected a `providers:` mapping of source to public key",
                          [Problem(str(path), "no providers mapping", "see protocols/intake.py for the format")])
    found: dict[str, list[SigningPublicKey]] = {}
    for source, entries in providers.items():
        _check_source(source, str(path))
        for number, entry in enumerate(entries if isinstance(entries, list) else [entries], start=1):
            where = f"{path}: providers.{source}[{number}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("public_key"), str):
                raise ConfigError(f"{where}: needs public_key (base64) and fingerprint")
            fingerprint = entry.get("fingerprint")
            found.setdefault(source, []).append(signing_public_key_from_text(
                entry["public_key"], where, str(fingerprint) if fingerprint is not None else None))
    return found


def _merge(into: dict[str, list[SigningPublicKey]], more: dict[str, list[SigningPublicKey]]) -> None:
    for source, keys in more.items():
        into.setdefault(source, []).extend(k for k in keys if k not in into.get(source, []))


def peek(path: str | Path) -> dict | None:
    """The header of a transfer file WITHOUT verifying it (for listing an inbox), or None."""
    try:
        return decode_envelope(Path(path).read_bytes()).header
    except (OSError, EnvelopeError):
        return None


def receive_transfer(path: str | Path, out_dir: str | Path, *, hub_private_key: HubKey,
                     registry: ProviderRegistry, last_accepted: Mapping[str, dt.date],
                     overwrite: bool = False) -> Received:
    """Verify and decrypt one transfer; write its sealed extract into ``out_dir``.

    Raises ``IntakeRefused`` (see the module docstring for the checks and reason codes).
    """
    path, out_dir = Path(path), Path(out_dir)
    refuse = _Refuser(path)
    try:
        data = path.read_bytes()
    except OSError:
        raise refuse(Reason.NOT_TRANSFER, "cannot be read (no such file or no permission)") from None
    try:
        envelope = decode_envelope(data)
    except EnvelopeError as error:
        if error.damaged:
            raise refuse(Reason.TAMPERED, "was damaged or altered: its envelope cannot be read") from None
        if data.startswith(b"PK\x03\x04"):
            raise refuse(Reason.NOT_TRANSFER, "is a plain sealed extract or other zip file, not a signed and "
                         "encrypted transfer", "send the .sealed.transfer file from pseudonymise "
                         "--sign-key --encrypt-to") from None
        raise refuse(Reason.NOT_TRANSFER, "is not a familylink transfer file",
                     "send only .sealed.transfer files written by pseudonymise") from None
    header = envelope.header
    source = header["source"]
    extract_date = _date(header["extract_date"])
    if not isinstance(source, str) or not SOURCE_NAME.match(source) or extract_date is None:
        raise refuse(Reason.TAMPERED, "was damaged or altered: its header is not valid")
    refuse.source, refuse.extract_date = source, extract_date

    keys = registry.keys_for(source)
    if not keys:
        raise refuse(Reason.UNREGISTERED, f"comes from source '{source}', which has no registered provider key",
                     "register the provider's signing key (FILE.pub) before accepting its transfers")
    signer = next((key for key in keys if key.verify(envelope.signature, envelope.signed_message)), None)
    if signer is None:
        if any(header["signer_fingerprint"] == key.fingerprint for key in keys):
            raise refuse(Reason.TAMPERED, "was altered after it was signed: the signature does not verify")
        raise refuse(Reason.BAD_SIGNATURE, f"is not signed by the key registered for source '{source}'",
                     "check the provider used its registered signing key, or register its new key")
    # the header is now authentic: signed by the source's registered key
    if header["version"] != TRANSFER_VERSION or header["cipher"] != CIPHER:
        raise refuse(Reason.NOT_TRANSFER, "uses a transfer format this hub does not read",
                     "upgrade familylink at the hub")
    if header["recipient_fingerprint"] != hub_private_key.fingerprint:
        raise refuse(Reason.WRONG_HUB_KEY, f"was encrypted to another hub key ({header['recipient_fingerprint']}), "
                     f"not this hub's ({hub_private_key.fingerprint})",
                     "give the provider this hub's public key (FILE.pub) and ask it to send again")
    container = _decrypt(envelope, hub_private_key)
    if container is None or hashlib.sha256(container).hexdigest() != header["container_sha256"]:
        raise refuse(Reason.TAMPERED, "was altered or damaged: its contents fail authentication")
    sealed_name = header["sealed_name"]
    if not isinstance(sealed_name, str) or not SEALED_NAME.match(sealed_name):
        raise refuse(Reason.HEADER_MISMATCH, "names an unusable sealed file")
    return _write_verified(refuse, container, out_dir / sealed_name, header, signer, last_accepted, overwrite)


def _write_verified(refuse: _Refuser, container: bytes, target: Path, header: dict, signer: SigningPublicKey,
                    last_accepted: Mapping[str, dt.date], overwrite: bool) -> Received:
    source, extract_date = refuse.source, refuse.extract_date
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(container)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            extract = open_sealed(temp)
        except SealedExtractError:
            raise refuse(Reason.INVALID_EXTRACT, "is signed and intact but holds no valid sealed extract",
                         "ask the provider to seal it again with this familylink version") from None
        if extract.source != source or _date(extract.manifest.get("extract_date")) != extract_date:
            raise refuse(Reason.HEADER_MISMATCH, "has a header whose source or extract date differs from "
                         "its sealed extract's manifest", _RESEND)
        last = last_accepted.get(source)
        if last is not None and extract_date <= last:
            raise refuse(Reason.REPLAY, f"is an extract of '{source}' dated {extract_date.isoformat()}, not after "
                         f"the last accepted one ({last.isoformat()}), so it is refused as a replay",
                         "only a newer extract can be accepted for a source")
        if overwrite:
            os.replace(temp, target)
        else:
            try:
                os.link(temp, target)
            except FileExistsError:
                raise refuse(Reason.OUTPUT_EXISTS, f"would replace {target.name}, which already exists in "
                             f"{target.parent}", "move the old sealed extract away first") from None
            except OSError:
                if target.exists():
                    raise refuse(Reason.OUTPUT_EXISTS, f"would replace {target.name}, which already exists",
                                 "move the old sealed extract away first") from None
                os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return Received(source, extract_date, target, header["container_sha256"], signer.fingerprint,
                    refuse.path, extract.content_sha256)


def _decrypt(envelope, hub_private_key: HubKey) -> bytes | None:
    try:
        shared = hub_private_key.private.exchange(X25519PublicKey.from_public_bytes(envelope.ephemeral_public))
        key = derive_key(shared, envelope.ephemeral_public, hub_private_key.public.raw)
        return AESGCM(key).decrypt(envelope.nonce, envelope.ciphertext, envelope.prefix)
    except (InvalidTag, ValueError):
        return None


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class _Refuser:
    """Builds ``IntakeRefused`` errors for one file: '<file> <sentence>.'"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source: str | None = None
        self.extract_date: dt.date | None = None

    def __call__(self, reason: Reason, what: str, fix: str = _RESEND) -> IntakeRefused:
        return IntakeRefused(reason, f"{self.path.name} {what}.",
                             [Problem(str(self.path), reason.value, fix)] if fix else (),
                             self.path, self.source, self.extract_date)


def receive_folder(folder: str | Path, out_dir: str | Path, *, hub_private_key: HubKey,
                   registry: ProviderRegistry, last_accepted: Mapping[str, dt.date],
                   overwrite: bool = False) -> tuple[list[Received], list[IntakeRefused]]:
    """Receive every ``*.transfer`` in ``folder`` (and refuse any plain ``*.sealed`` there),
    oldest claimed extract date first, without stopping at a refusal.

    Accepting an extract raises the replay bar for later files of its source in the same
    call; ``last_accepted`` itself is not changed.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    suffixes = (TRANSFER_SUFFIX,) if folder.resolve() == out_dir.resolve() else (TRANSFER_SUFFIX, SEALED_SUFFIX)
    paths = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name.endswith(suffixes)]
    paths.sort(key=lambda p: (_date((peek(p) or {}).get("extract_date")) or dt.date.max, p.name))
    bar = dict(last_accepted)
    received: list[Received] = []
    refused: list[IntakeRefused] = []
    for path in paths:
        try:
            result = receive_transfer(path, out_dir, hub_private_key=hub_private_key, registry=registry,
                                      last_accepted=bar, overwrite=overwrite)
        except IntakeRefused as error:
            refused.append(error)
            continue
        received.append(result)
        bar[result.source] = max(result.extract_date, bar.get(result.source, result.extract_date))
    return received, refused
