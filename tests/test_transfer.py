"""Sealed transfer: signing and hub keys, sign-and-encrypt, and intake refusals."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import pickle
import re
import stat

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from familylink.cli import cli
from familylink.core.errors import ConfigError, KeyFileError, OutputExistsError
from protocols.intake import (
    IntakeRefused,
    ProviderRegistry,
    Reason,
    peek,
    receive_folder,
    receive_transfer,
)
from protocols.keys import (
    generate_hub_key,
    generate_key,
    generate_signing_key,
    load_hub_key,
    load_hub_public_key,
    load_key,
    load_signing_key,
    load_signing_public_key,
    write_key_file,
    write_key_pair,
)
from protocols.seal import pseudonymise
from protocols.sealed import open_sealed
from protocols.transfer import (
    MAGIC,
    TransferError,
    build_header,
    decode_envelope,
    derive_key,
    encode_envelope,
    seal_for_transfer,
)
from tests.conftest import health_row, write_csv

Q2, Q3, Q4 = dt.date(2026, 6, 30), dt.date(2026, 9, 30), dt.date(2026, 12, 31)
PERSONAL = ("Zoë", "O'Brien", "1985-03-14", "Mill Lane", "LE11 3AB", "9434765919", "Quentinara")


@pytest.fixture(scope="module")
def parties():
    """Two providers' signing keys and two hubs' keys."""
    return {"health": generate_signing_key(), "police": generate_signing_key(),
            "hub": generate_hub_key(), "other_hub": generate_hub_key()}


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, agreements, key):
    """Plain sealed health extracts for three quarters: date -> path."""
    folder = tmp_path_factory.mktemp("sealed")
    raw = write_csv(folder / "health.csv", [health_row(), health_row(record_id="H2", given_name="Quentinara")])
    return {date: pseudonymise(raw, folder / f"health-{date.isoformat()}.sealed", "health", key, agreements,
                               extract_date=date).sealed_path for date in (Q2, Q3, Q4)}


@pytest.fixture()
def registry(parties):
    return ProviderRegistry.from_keys({"health": parties["health"].public, "police": parties["police"].public})


def make_transfer(tmp_path, sealed_path, parties, signer="health", hub="hub", name="health.sealed"):
    out = tmp_path / "outbox" / f"{sealed_path.stem}.sealed.transfer"
    return seal_for_transfer(sealed_path, out, signing_key=parties[signer], hub_public_key=parties[hub].public,
                             sealed_name=name).path


def refusal(path, out_dir, parties, registry, last=None, hub="hub") -> IntakeRefused:
    with pytest.raises(IntakeRefused) as caught:
        receive_transfer(path, out_dir, hub_private_key=parties[hub], registry=registry, last_accepted=last or {})
    return caught.value


def secrets_of(*keys) -> list[str]:
    found = []
    for k in keys:
        raw = k.private.private_bytes_raw() if hasattr(k, "private") else k.secret
        found += [base64.b64encode(raw).decode(), raw.hex()]
    return found


# --- keys ------------------------------------------------------------------------------------------

def test_keygen_kinds_write_private_0600_and_public_files_never_overwritten(tmp_path):
    runner = CliRunner()
    for kind in ("signing", "hub"):
        out = tmp_path / f"{kind}.key"
        result = runner.invoke(cli, ["keygen", "--kind", kind, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        pub = tmp_path / f"{kind}.key.pub"
        assert pub.is_file() and not stat.S_IMODE(pub.stat().st_mode) & 0o022
        private_text, public_text = out.read_text(), pub.read_text()
        assert "private_key" not in public_text
        document = json.loads(private_text)
        assert document["fingerprint"] in result.output and document["private_key"] not in result.output
        again = runner.invoke(cli, ["keygen", "--kind", kind, "--out", str(out)])
        assert again.exit_code == 1 and "never overwrites" in again.output
        assert out.read_text() == private_text and pub.read_text() == public_text
    # only the .pub exists: refused before anything is written
    (tmp_path / "lonely.key.pub").write_text("{}")
    with pytest.raises(OutputExistsError):
        write_key_pair(tmp_path / "lonely.key", generate_signing_key())
    assert not (tmp_path / "lonely.key").exists()
    assert load_signing_key(tmp_path / "signing.key").public == load_signing_public_key(tmp_path / "signing.key.pub")
    assert load_hub_key(tmp_path / "hub.key").public == load_hub_public_key(tmp_path / "hub.key.pub")
    assert runner.invoke(cli, ["keygen", "--out", str(tmp_path / "p.key")]).exit_code == 0


def test_wrong_kind_missing_and_unsafe_key_files_are_refused_clearly(tmp_path):
    signing, hub = tmp_path / "signing.key", tmp_path / "hub.key"
    write_key_pair(signing, generate_signing_key())
    write_key_pair(hub, generate_hub_key())
    write_key_file(tmp_path / "p.key", generate_key())
    cases = [
        (load_hub_key, signing, "this is a provider signing key (private) file, not a hub private key file"),
        (load_signing_key, hub, "this is a hub private key file, not a provider signing key"),
        (load_key, signing, "not a partnership key file"),
        (load_signing_key, tmp_path / "p.key", "this is a partnership key file"),
        (load_hub_public_key, hub, "this is a hub private key file, not a hub public key"),
        (load_signing_public_key, signing, "provider signing key (private) file, not a provider signing public"),
        (load_hub_key, tmp_path / "hub.key.pub", "this is a hub public key (.pub) file, not a hub private key"),
        (load_hub_key, tmp_path / "missing.key", "no key file there"),
    ]
    for load, path, message in cases:
        with pytest.raises(KeyFileError, match=re.escape(message)):
            load(path)
    os.chmod(signing, 0o640)
    with pytest.raises(KeyFileError, match="readable by other users"):
        load_signing_key(signing)
    os.chmod(signing, 0o600)
    document = json.loads(hub.read_text())
    document["public_key"] = json.loads((tmp_path / "signing.key.pub").read_text())["public_key"]
    hub.write_text(json.dumps(document))
    with pytest.raises(KeyFileError, match="damaged"):
        load_hub_key(hub)


def test_key_reprs_never_show_key_material():
    signing, hub = generate_signing_key(), generate_hub_key()
    for k in (signing, hub):
        text = repr(k) + str(k)
        assert k.fingerprint in text
        assert not any(secret in text for secret in secrets_of(k))


# --- round trip through the CLI --------------------------------------------------------------------

def test_cli_round_trip_signed_encrypted_transfer(tmp_path):
    runner = CliRunner()
    for args in (["keygen", "--out", "p.key"], ["keygen", "--kind", "signing", "--out", "provider.key"],
                 ["keygen", "--kind", "hub", "--out", "hub.key"]):
        assert runner.invoke(cli, [args[0], *args[1:-1], str(tmp_path / args[-1])]).exit_code == 0
    raw = write_csv(tmp_path / "health.csv", [health_row(), health_row(record_id="H2", given_name="Quentinara")])
    out = tmp_path / "outbox" / "health.sealed"
    args = ["pseudonymise", "--source", "health", "--key", str(tmp_path / "p.key"), "--in", str(raw),
            "--out", str(out), "--extract-date", "2026-09-30", "--quiet",
            "--sign-key", str(tmp_path / "provider.key"), "--encrypt-to", str(tmp_path / "hub.key.pub")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    transfer = tmp_path / "outbox" / "health.sealed.transfer"
    assert sorted(p.name for p in out.parent.iterdir()) == ["health.sealed.transfer"]  # no plain .sealed left
    assert "Transfer file" in result.output and not any(value in result.output for value in PERSONAL)
    data = transfer.read_bytes()
    assert data.startswith(MAGIC) and not any(v.encode() in data for v in PERSONAL)

    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "--force" in again.output
    kept = runner.invoke(cli, [*args, "--force", "--keep-sealed"])
    assert kept.exit_code == 0, kept.output
    assert out.is_file() and transfer.is_file()

    registry = ProviderRegistry.load(_registry_folder(tmp_path, health=tmp_path / "provider.key.pub"))
    received = receive_transfer(transfer, tmp_path / "hub", hub_private_key=load_hub_key(tmp_path / "hub.key"),
                                registry=registry, last_accepted={"health": Q2})
    extract = open_sealed(received.sealed_path)
    assert received.sealed_path == tmp_path / "hub" / "health.sealed"
    assert (received.source, received.extract_date) == ("health", Q3) and extract.source == "health"
    assert received.signer_fingerprint == load_signing_key(tmp_path / "provider.key").fingerprint
    assert received.content_sha256 == extract.content_sha256 and len(received.container_sha256) == 64
    assert received.sealed_path.read_bytes() == out.read_bytes()  # the kept sealed file, byte for byte
    details = json.dumps(received.audit_details())
    assert received.container_sha256 in details and not any(value in details for value in PERSONAL)
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["health.sealed"]


def test_cli_refuses_half_given_or_wrong_kind_transfer_keys(tmp_path):
    runner = CliRunner()
    write_key_file(tmp_path / "p.key", generate_key())
    write_key_pair(tmp_path / "provider.key", generate_signing_key())
    write_key_pair(tmp_path / "hub.key", generate_hub_key())
    raw = write_csv(tmp_path / "health.csv", [health_row()])
    base = ["pseudonymise", "--source", "health", "--key", str(tmp_path / "p.key"), "--in", str(raw),
            "--out", str(tmp_path / "health.sealed"), "--extract-date", "2026-09-30", "--quiet"]
    cases = [
        (["--sign-key", str(tmp_path / "provider.key")], "go together"),
        (["--encrypt-to", str(tmp_path / "hub.key.pub")], "go together"),
        (["--keep-sealed"], "only applies with"),
        (["--sign-key", str(tmp_path / "provider.key"), "--encrypt-to", str(tmp_path / "hub.key")],
         "this is a hub private key file, not a hub public key"),
        (["--sign-key", str(tmp_path / "provider.key.pub"), "--encrypt-to", str(tmp_path / "hub.key.pub")],
         "not a provider signing key (private) file"),
    ]
    for extra, message in cases:
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code == 1 and result.output.startswith("Error: ") and message in result.output, extra
        assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.sealed*"))


# --- refusals --------------------------------------------------------------------------------------

def test_wrong_hub_key_is_refused(tmp_path, sealed, parties, registry):
    path = make_transfer(tmp_path, sealed[Q3], parties, hub="other_hub")
    error = refusal(path, tmp_path / "in", parties, registry)
    assert error.reason == Reason.WRONG_HUB_KEY and "another hub key" in error.summary
    assert error.source == "health" and error.extract_date == Q3
    assert not (tmp_path / "in").exists() or not list((tmp_path / "in").iterdir())


def test_one_flipped_byte_anywhere_is_refused(tmp_path, sealed, parties, registry):
    path = make_transfer(tmp_path, sealed[Q3], parties)
    data = path.read_bytes()
    envelope = decode_envelope(data)
    header_start = len(MAGIC) + 4
    header_text = envelope.header_bytes
    source_span = _span(header_text, b'"source":"health"', header_start)
    signer_span = _span(header_text, b'"signer_fingerprint":"' + parties["health"].fingerprint.encode() + b'"',
                        header_start)
    prefix = len(envelope.prefix)
    positions = sorted({*range(prefix), *range(prefix, len(data), 97), *range(len(data) - 16, len(data))})
    out_dir = tmp_path / "in"
    bad = tmp_path / "bad.sealed.transfer"
    for position in positions:
        for mask in ((0x01, 0x80) if position < prefix else (0x01,)):
            mutated = bytearray(data)
            mutated[position] ^= mask
            bad.write_bytes(bytes(mutated))
            error = refusal(bad, out_dir, parties, registry)
            if position < len(MAGIC):
                expected = {Reason.NOT_TRANSFER}
            elif source_span[0] <= position < source_span[1]:
                expected = {Reason.UNREGISTERED, Reason.TAMPERED}
            elif signer_span[0] <= position < signer_span[1]:
                expected = {Reason.BAD_SIGNATURE, Reason.TAMPERED}
            else:
                expected = {Reason.TAMPERED}
            assert error.reason in expected, (position, mask, error.reason)
    assert not out_dir.exists() or not list(out_dir.iterdir())  # nothing written, no temporary left
    # the untouched file is still accepted
    assert receive_transfer(path, out_dir, hub_private_key=parties["hub"], registry=registry,
                            last_accepted={}).source == "health"


def test_truncated_or_extended_files_are_refused(tmp_path, sealed, parties, registry):
    data = make_transfer(tmp_path, sealed[Q3], parties).read_bytes()
    bad = tmp_path / "bad.sealed.transfer"
    for mutated in (data[:-1], data + b"\0", data[: len(MAGIC) + 2], data[:200], MAGIC, b""):
        bad.write_bytes(mutated)
        assert refusal(bad, tmp_path / "in", parties, registry).reason in (Reason.TAMPERED, Reason.NOT_TRANSFER)


def test_signature_by_another_providers_key_is_refused(tmp_path, sealed, parties, registry):
    path = make_transfer(tmp_path, sealed[Q3], parties, signer="police")
    error = refusal(path, tmp_path / "in", parties, registry)
    assert error.reason == Reason.BAD_SIGNATURE
    assert error.summary == f"{path.name} is not signed by the key registered for source 'health'."


def test_forged_signer_fingerprint_or_swapped_content_is_tampering(tmp_path, sealed, parties, registry):
    container = sealed[Q3].read_bytes()
    # a forger signs with its own key but claims the registered signer's fingerprint
    header = build_header(source="health", extract_date=Q3, sealed_name="health.sealed", container=container,
                          signer_fingerprint=parties["health"].fingerprint,
                          recipient_fingerprint=parties["hub"].fingerprint)
    forged = tmp_path / "forged.sealed.transfer"
    forged.write_bytes(encode_envelope(header, container, parties["police"], parties["hub"].public))
    assert refusal(forged, tmp_path / "in", parties, registry).reason == Reason.TAMPERED
    # anyone can encrypt to the hub: a genuine signed header re-used over other content
    genuine = decode_envelope(make_transfer(tmp_path, sealed[Q3], parties).read_bytes())
    other = sealed[Q4].read_bytes()
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    hub_public = parties["hub"].public.raw
    key = derive_key(ephemeral.exchange(parties["hub"].public.key()), ephemeral_public, hub_public)
    nonce = bytes(12)
    prefix = genuine.prefix[: -(32 + 12)] + ephemeral_public + nonce
    swapped = tmp_path / "swapped.sealed.transfer"
    swapped.write_bytes(prefix + AESGCM(key).encrypt(nonce, other, prefix))
    error = refusal(swapped, tmp_path / "in", parties, registry)
    assert error.reason == Reason.TAMPERED and "fail authentication" in error.summary


def test_header_that_disagrees_with_the_manifest_is_refused(tmp_path, sealed, parties, registry):
    container = sealed[Q3].read_bytes()
    header = build_header(source="health", extract_date=Q4, sealed_name="health.sealed", container=container,
                          signer_fingerprint=parties["health"].fingerprint,
                          recipient_fingerprint=parties["hub"].fingerprint)
    path = tmp_path / "mismatch.sealed.transfer"
    path.write_bytes(encode_envelope(header, container, parties["health"], parties["hub"].public))
    assert refusal(path, tmp_path / "in", parties, registry).reason == Reason.HEADER_MISMATCH
    with pytest.raises(TransferError, match="is dated 2026-09-30, not 2026-12-31"):
        seal_for_transfer(sealed[Q3], tmp_path / "x.sealed.transfer", signing_key=parties["health"],
                          hub_public_key=parties["hub"].public, extract_date=Q4)
    with pytest.raises(TransferError, match="is an extract of 'health', not 'police'"):
        seal_for_transfer(sealed[Q3], tmp_path / "x.sealed.transfer", signing_key=parties["health"],
                          hub_public_key=parties["hub"].public, source="police")


def test_unregistered_provider_is_refused(tmp_path, sealed, parties):
    path = make_transfer(tmp_path, sealed[Q3], parties)
    only_police = ProviderRegistry.from_keys({"police": parties["police"].public})
    error = refusal(path, tmp_path / "in", parties, only_police)
    assert error.reason == Reason.UNREGISTERED
    assert error.summary == f"{path.name} comes from source 'health', which has no registered provider key."


def test_replay_of_the_same_or_an_older_extract_is_refused(tmp_path, sealed, parties, registry):
    q2, q3 = make_transfer(tmp_path, sealed[Q2], parties), make_transfer(tmp_path, sealed[Q3], parties)
    for path, last in ((q3, Q3), (q2, Q3), (q3, Q4)):
        error = refusal(path, tmp_path / "in", parties, registry, last={"health": last})
        assert error.reason == Reason.REPLAY and "replay" in error.summary
    received = receive_transfer(q3, tmp_path / "in", hub_private_key=parties["hub"], registry=registry,
                                last_accepted={"health": Q2, "police": Q4})
    assert received.extract_date == Q3
    error = refusal(q3, tmp_path / "in", parties, registry, last={"health": Q2})
    assert error.reason == Reason.OUTPUT_EXISTS  # never overwrites an accepted extract


def test_plain_sealed_or_other_file_is_not_a_transfer(tmp_path, sealed, parties, registry):
    error = refusal(sealed[Q3], tmp_path / "in", parties, registry)
    assert error.reason == Reason.NOT_TRANSFER and "plain sealed extract" in error.summary
    text = tmp_path / "notes.transfer"
    text.write_text("hello")
    assert refusal(text, tmp_path / "in", parties, registry).reason == Reason.NOT_TRANSFER
    assert refusal(tmp_path / "missing.transfer", tmp_path / "in", parties, registry).reason == Reason.NOT_TRANSFER
    assert peek(sealed[Q3]) is None


def test_receive_folder_collects_every_outcome_in_date_order(tmp_path, sealed, parties, registry):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for date, name in ((Q3, "b.sealed"), (Q2, "c.sealed"), (Q4, "a.sealed")):
        seal_for_transfer(sealed[date], inbox / f"z{name}.transfer", signing_key=parties["health"],
                          hub_public_key=parties["hub"].public, sealed_name=name)
    (inbox / "d.sealed.transfer").write_bytes(b"familylink-transfer/1\n\x00")
    (inbox / "e.sealed").write_bytes(sealed[Q3].read_bytes())
    (inbox / "README.txt").write_text("not considered")
    received, refused = receive_folder(inbox, tmp_path / "hub", hub_private_key=parties["hub"],
                                       registry=registry, last_accepted={"health": Q2})
    assert [r.extract_date for r in received] == [Q3, Q4]
    assert sorted((e.path.name, e.reason) for e in refused) == [
        ("d.sealed.transfer", Reason.TAMPERED), ("e.sealed", Reason.NOT_TRANSFER),
        ("zc.sealed.transfer", Reason.REPLAY)]
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["a.sealed", "b.sealed"]
    again, refused = receive_folder(inbox, tmp_path / "hub", hub_private_key=parties["hub"], registry=registry,
                                    last_accepted={"health": Q4})
    assert not again and {e.reason for e in refused} >= {Reason.REPLAY}


def test_refusals_survive_pickling_and_never_show_secrets_or_values(tmp_path, sealed, parties, registry):
    messages = []
    paths = [make_transfer(tmp_path, sealed[Q3], parties, hub="other_hub"),
             make_transfer(tmp_path, sealed[Q2], parties, signer="police"), sealed[Q3]]
    for path in paths:
        error = refusal(path, tmp_path / "in", parties, registry, last={"health": Q4})
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.reason, copy.summary, copy.path, copy.source) == (error.reason, error.summary, error.path,
                                                                    error.source)
        assert error.summary.count(". ") == 0 and error.summary.endswith(".")
        assert error.audit_details()["reason"] == error.reason.value
        messages += [error.render(), json.dumps(error.audit_details())]
    text = "\n".join(messages)
    assert not any(value in text for value in PERSONAL)
    assert not any(secret in text for secret in secrets_of(*parties.values()))


# --- the registry ----------------------------------------------------------------------------------

def _registry_folder(tmp_path, **pubs):
    folder = tmp_path / "providers"
    folder.mkdir(exist_ok=True)
    for source, pub in pubs.items():
        (folder / f"{source}.pub").write_bytes(pub.read_bytes())
    return folder


def test_registry_from_folder_and_yaml(tmp_path, parties):
    write_key_pair(tmp_path / "health.key", parties["health"])
    write_key_pair(tmp_path / "police.key", parties["police"])
    folder = _registry_folder(tmp_path, health=tmp_path / "health.key.pub")
    police = json.loads((tmp_path / "police.key.pub").read_text())
    (folder / "providers.yaml").write_text(
        f"providers:\n  police:\n    public_key: {police['public_key']}\n    fingerprint: {police['fingerprint']}\n")
    registry = ProviderRegistry.load(folder)
    assert registry.sources == ["health", "police"]
    assert registry.fingerprints() == {"health": [parties["health"].fingerprint],
                                       "police": [parties["police"].fingerprint]}
    yaml_only = ProviderRegistry.load(folder / "providers.yaml")
    assert yaml_only.keys_for("police") == (parties["police"].public,) and yaml_only.keys_for("health") == ()
    (folder / "providers.yaml").write_text(
        f"providers:\n  police:\n    public_key: {police['public_key']}\n    fingerprint: {'0' * 32}\n")
    with pytest.raises(KeyFileError, match="fingerprint does not match"):
        ProviderRegistry.load(folder)


def test_registry_refuses_private_keys_bad_names_and_emptiness(tmp_path, parties):
    folder = tmp_path / "providers"
    folder.mkdir()
    with pytest.raises(ConfigError, match="no registered provider keys"):
        ProviderRegistry.load(folder)
    with pytest.raises(ConfigError, match="no provider registry there"):
        ProviderRegistry.load(tmp_path / "nowhere")
    write_key_pair(tmp_path / "k.key", generate_signing_key())
    (folder / "health.pub").write_bytes((tmp_path / "k.key").read_bytes())  # a private key by mistake
    with pytest.raises(KeyFileError, match="provider signing key \\(private\\) file"):
        ProviderRegistry.load(folder)
    (folder / "health.pub").unlink()
    (folder / "Bad Name.pub").write_bytes((tmp_path / "k.key.pub").read_bytes())
    with pytest.raises(ConfigError, match="is not a source name"):
        ProviderRegistry.load(folder)


def _span(header: bytes, needle: bytes, offset: int) -> tuple[int, int]:
    start = header.index(needle)
    return offset + start, offset + start + len(needle)
