import hashlib

from hypothesis import given
from hypothesis import strategies as st

from protocols.encoders import BloomEncoder, TokenEncoder, dice
from protocols.keys import generate_key

KEY = generate_key()


def test_tokens_are_keyed_deterministic_and_truncated():
    a = TokenEncoder(KEY.field_key("token/tok_family"))
    b = TokenEncoder(generate_key().field_key("token/tok_family"))
    assert a.encode("SMITH") == a.encode("SMITH")
    assert len(a.encode("SMITH")) == 32
    assert a.encode("SMITH") != b.encode("SMITH")
    assert a.encode("SMITH") not in (hashlib.sha256(b"SMITH").hexdigest()[:32], hashlib.md5(b"SMITH").hexdigest())
    assert a.encode("") is None and a.encode(None) is None
    assert "key" not in repr(a).lower().replace("token_bytes", "")


def test_bloom_filters_have_fixed_width_and_reflect_similarity():
    bloom = BloomEncoder(KEY.field_key("bloom/family_name"), bits=512, hashes=15)
    smith, smyth, khan = bloom.encode("SMITH"), bloom.encode("SMYTH"), bloom.encode("KHAN")
    assert len(smith) == len(khan) == 64
    assert dice(smith, smith) == 1.0
    assert dice(smith, smyth) > 0.5 > dice(smith, khan)
    other = BloomEncoder(generate_key().field_key("bloom/family_name"), bits=512, hashes=15)
    assert dice(smith, other.encode("SMITH")) < 0.5


def test_bloom_positions_match_encoding():
    bloom = BloomEncoder(KEY.field_key("bloom/address"), bits=1024, hashes=10)
    encoded = int.from_bytes(bloom.encode("14 MILL LANE"), "big")
    assert {p for p in range(1024) if encoded >> p & 1} == set(bloom.positions("14 MILL LANE"))


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ ", min_size=1, max_size=30))
def test_bloom_of_equal_text_is_equal_and_dice_is_bounded(text):
    bloom = BloomEncoder(KEY.field_key("bloom/given_name"), bits=512, hashes=15)
    assert bloom.encode(text) == bloom.encode(str(text))
    assert 0.0 <= dice(bloom.encode(text), bloom.encode(text + "X")) <= 1.0


def test_given_forms_are_one_keyed_list_that_meets_for_a_nickname_and_not_for_a_twin(agreements):
    from tests.test_token_properties import KEY as SEAL_KEY
    from tests.test_token_properties import seal_row

    def sealed(given_name: str, source: str = "police") -> dict:
        return seal_row(agreements, source, {"record_id": "A", "given_name": given_name, "family_name": "Lee"})

    harry, henry, harold = sealed("Harry"), sealed("HENRY", "probation"), sealed("Harold")
    from protocols.normalise.names import given_name_forms

    assert len(harry["tok_given_forms"]) == len(given_name_forms("HARRY"))
    assert harry["tok_given_forms"] == sorted(harry["tok_given_forms"])
    assert set(harry["tok_given_forms"]) & set(henry["tok_given_forms"])  # one person, two sources
    assert set(harry["tok_given_forms"]) & set(harold["tok_given_forms"])
    assert not set(henry["tok_given_forms"]) & set(harold["tok_given_forms"])  # clearly different names
    # one key of its own for the whole list: HENRY's only form is the HENRY token of that key...
    forms_key = TokenEncoder(SEAL_KEY.field_key("token/tok_given_forms"), agreements.partnership.encoding.token_bytes)
    assert henry["tok_given_forms"] == [forms_key.encode("HENRY")]
    # ...and it cannot be joined to any other column's tokens
    others = {v for c, v in henry.items() if c.startswith("tok_") and isinstance(v, str)}
    others |= {t for c in ("tok_family_parts", "tok_name_parts") for t in henry[c] or ()}
    assert not set(harry["tok_given_forms"]) & others


def test_both_name_filters_share_one_key_so_a_swap_with_a_typo_is_measurable(agreements):
    from protocols.encoding import BLOOM_KEY_LABELS
    from tests.test_token_properties import KEY as SEAL_KEY
    from tests.test_token_properties import seal_row

    assert BLOOM_KEY_LABELS["bf_given"] == BLOOM_KEY_LABELS["bf_family"] != BLOOM_KEY_LABELS["bf_address"]
    a = seal_row(agreements, "police", {"record_id": "A", "given_name": "Amy", "family_name": "Chandler"})
    b = seal_row(agreements, "health", {"record_id": "B", "given_name": "Chandelr", "family_name": "Amy"})
    assert a["bf_given"] == b["bf_family"]                  # the same name, whichever field holds it
    assert dice(a["bf_family"], b["bf_given"]) > 0.6        # a swap with a typo is still close
    assert dice(a["bf_given"], b["bf_given"]) < 0.3
    encoding = agreements.partnership.encoding
    name = BloomEncoder(SEAL_KEY.field_key("bloom/name"), encoding.bloom["given_name"].bits,
                        encoding.bloom["given_name"].hashes)
    assert a["bf_given"] == name.encode("AMY") and a["bf_family"] == name.encode("CHANDLER")
    address = BloomEncoder(SEAL_KEY.field_key("bloom/address"), encoding.bloom["given_name"].bits,
                           encoding.bloom["given_name"].hashes)
    assert address.encode("AMY") != a["bf_given"]            # the address key is not the name key
