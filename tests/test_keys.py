import json
import os
import stat

import pytest

from familylink.core.errors import KeyFileError, OutputExistsError
from protocols.keys import PartnershipKey, generate_key, load_key, write_key_file


def test_keygen_writes_owner_only_file_and_refuses_overwrite(tmp_path):
    key = generate_key()
    path = tmp_path / "partnership.key"
    write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key
    with pytest.raises(OutputExistsError):
        write_key_file(path, generate_key())
    assert load_key(path) == key


def test_fingerprint_identifies_without_revealing(tmp_path):
    key = generate_key()
    assert key.fingerprint == PartnershipKey(key.secret).fingerprint
    assert key.fingerprint != generate_key().fingerprint
    assert key.secret.hex() not in repr(key) and key.secret.hex()[:16] != key.fingerprint
    assert "secret" not in repr(key)


def test_field_keys_are_distinct_and_stable():
    key = generate_key()
    assert key.field_key("token/tok_given") == key.field_key("token/tok_given")
    assert key.field_key("token/tok_given") != key.field_key("token/tok_family")
    assert key.secret not in (key.field_key("token/tok_given"),)


def test_load_refuses_unsafe_permissions_and_damaged_files(tmp_path):
    path = tmp_path / "k.key"
    write_key_file(path, generate_key())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600|readable by other users"):
        load_key(path)
    os.chmod(path, 0o600)
    document = json.loads(path.read_text())
    document["secret"] = document["secret"][:-8] + "AAAAAAA="
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError):
        load_key(path)
    (tmp_path / "junk.key").write_text("not json")
    os.chmod(tmp_path / "junk.key", 0o600)
    with pytest.raises(KeyFileError, match="not a familylink partnership key"):
        load_key(tmp_path / "junk.key")
    with pytest.raises(KeyFileError, match="no key file"):
        load_key(tmp_path / "missing.key")
