"""The plaintext path: the product's own sealing and linkage with the keyed encoders replaced
by plaintext ones, so that sealed against plaintext measures exactly what the keys cost.

Everything but two classes is the product's code: the raw extract is read, validated and
normalised by ``protocols.seal.pseudonymise`` (the same agreements, date formats, extract date
and normalisers), encoded by ``protocols.encoding.ExtractEncoder`` (the same derivation of every
column: name parts, nicknames, given-name forms, phonetic codes, swapped dates, address key and
locality words, postcode unit/sector/district), written as a sealed file the hub verifies and
loads, and linked by ``matching.link.link_persons`` at the settings given (the same comparisons,
blocking budget, training, calibration, guards and clustering). Only the encoders differ:

* ``PlaintextTokens`` replaces ``TokenEncoder``: a token is an unkeyed hash (for the order of
  token lists, as HMAC gives), its keyed domain's label and the normalised value
  (``5c1d09e2|token/tok_dob|1987-03-04``). HMAC under one key is injective (a
  collision of 128-bit tokens is never seen), and the sealed encoder gives every domain its
  own key, so two values are equal as plaintext tokens exactly when they are equal as sealed
  tokens, within a column and across columns (``tok_dob_swapped`` shares ``tok_dob``'s
  domain, every name part one domain, as sealing does).
* ``QgramSet`` replaces ``BloomEncoder``: every distinct padded bigram (the same
  ``protocols.normalise.bigrams``) gets a bit of its own, so a filter is the exact bigram set
  and the product's Dice SQL computes the exact bigram Dice, with no hashing and no
  collisions. Filters of one keyed domain (``bloom/name`` for given and family names,
  ``bloom/address``) share one numbering, so a given name compares with a family name as
  sealed. Bits are numbered in the order bigrams are first met in the run (deterministic:
  files and rows are read in order). A filter is as wide as the sealed one where that holds
  every bigram met, otherwise twice as wide (then four times ...): ``seal_plaintext`` starts
  again at the next width when a filter fills up. FEBRL's names hold 617-650 distinct bigrams
  (of 37 x 37 possible), so their plaintext filters are 1,024 bits against 512 sealed, which
  makes the plaintext path's Dice, not its accuracy, a little slower.
* Token lists (name parts, given-name forms, locality words) are sorted by token, and the hub
  reads that order where it takes the first and last locality word as blocking keys: sealed,
  the key sets it; plaintext, the unkeyed hash does, an order of the same kind though not the
  same one, so FEBRL4's pairs scored differ a little between the paths, as between two keys.

The keys are still passed (sealing needs one for the manifest) but encode nothing. The files
hold plaintext: a benchmark's working files, never a hub's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from familylink.core.contract import SEALED_TOKEN_COLUMNS
from protocols import chunk_pool
from protocols.agreements import Agreement, AgreementSet, Partnership
from protocols.encoders import BloomEncoder, TokenEncoder
from protocols.encoding import BLOOM_KEY_LABELS, ExtractEncoder
from protocols.keys import PartnershipKey
from protocols.normalise import bigrams
from protocols.seal import ExtractReport, pseudonymise

#: the Bloom filters' fields in the partnership document
_BLOOM_FIELDS = {"bf_given": "given_name", "bf_family": "family_name", "bf_address": "address"}
#: separates a plaintext token's hash, domain and value (never in a domain; a value may hold it)
TOKEN_SEPARATOR = "|"
#: hex digits of the unkeyed hash that leads a plaintext token
ORDER_DIGITS = 8


class PlaintextTokens:
    """A ``TokenEncoder`` without the key: ``<order>|<domain>|<value>``.

    The value (with the domain) makes the token injective, like HMAC. ``order``, the first hex
    digits of an unkeyed SHA-256 of domain and value, gives tokens the same kind of order as
    sealed ones (pseudo-random, not alphabetical): the product reads the order of a sorted
    token list where it takes the first and last locality word (``matching/load.py``), so
    alphabetical plaintext tokens would pick other words than any key does.
    """

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"PlaintextTokens({self.domain!r})"

    def encode(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        token = self._cache.get(value)
        if token is None:
            named = self.domain + TOKEN_SEPARATOR + value
            order = hashlib.sha256(named.encode("utf-8")).hexdigest()[:ORDER_DIGITS]
            token = self._cache[value] = order + TOKEN_SEPARATOR + named
        return token

    def encode_many(self, values: Iterable[str | None]) -> list[str | None]:
        return [self.encode(v) for v in values]


def token_domain(token: str) -> str:
    return token.split(TOKEN_SEPARATOR, 2)[1]


def token_value(token: str) -> str:
    """The normalised value a plaintext token holds."""
    return token.split(TOKEN_SEPARATOR, 2)[2]


class FilterFull(Exception):
    """More distinct bigrams in one keyed domain than its filters have bits."""

    def __init__(self, domain: str, bits: int) -> None:
        super().__init__(f"{domain}: more than {bits} distinct bigrams")
        self.domain, self.bits = domain, bits


class BigramNumbering:
    """One bit per distinct bigram of a keyed domain, numbered in first-met order."""

    def __init__(self, domain: str, bits: int) -> None:
        self.domain, self.bits = domain, bits
        self.bit_of: dict[str, int] = {}

    def mask(self, gram: str) -> int:
        bit = self.bit_of.get(gram)
        if bit is None:
            if len(self.bit_of) == self.bits:
                raise FilterFull(self.domain, self.bits)
            bit = self.bit_of[gram] = len(self.bit_of)
        return 1 << bit


class QgramSet:
    """A ``BloomEncoder`` without hashing: the exact set of a value's bigrams, one bit each,
    stored like a Bloom filter (``bits / 8`` bytes, big-endian, bit ``p`` is ``1 << p``)."""

    def __init__(self, numbering: BigramNumbering) -> None:
        self.numbering = numbering
        self.bits = numbering.bits
        self.width = numbering.bits // 8
        self._cache: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"QgramSet({self.numbering.domain!r}, bits={self.bits})"

    def encode(self, text: str | None) -> bytes | None:
        if text is None or text == "":
            return None
        encoded = self._cache.get(text)
        if encoded is None:
            value = 0
            for gram in bigrams(text):
                value |= self.numbering.mask(gram)
            encoded = self._cache[text] = value.to_bytes(self.width, "big")
        return encoded

    def encode_many(self, values: Iterable[str | None]) -> list[bytes | None]:
        return [self.encode(v) for v in values]


class PlaintextExtractEncoder(ExtractEncoder):
    """The product's ``ExtractEncoder`` with every keyed encoder replaced by its plaintext
    counterpart (same domains as the keys: ``protocols.encoding``)."""

    def __init__(self, key: PartnershipKey, partnership: Partnership, agreement: Agreement,
                 extract_date: dt.date, *, numberings: dict[str, BigramNumbering]) -> None:
        super().__init__(key, partnership, agreement, extract_date)
        self.tokens = {c: PlaintextTokens(f"token/{c}") for c in SEALED_TOKEN_COLUMNS}
        self.tokens["tok_dob_swapped"] = self.tokens["tok_dob"]
        self.family_part = PlaintextTokens("token/tok_family_parts")
        self.name_part = PlaintextTokens("token/name_part")
        self.given_form = PlaintextTokens("token/tok_given_forms")
        self.locality_part = PlaintextTokens("token/tok_locality_parts")
        self.blooms = {column: QgramSet(numberings[BLOOM_KEY_LABELS[column]]) for column in _BLOOM_FIELDS}
        keyed = [name for name, value in vars(self).items() if _holds_keyed_encoder(value)]
        if keyed:  # protocols.encoding grew an encoder this path does not mirror
            raise RuntimeError(f"ExtractEncoder attribute(s) {', '.join(keyed)} still encode with the key: "
                               "mirror them in benchmarks/febrl/plaintext.py")


def _holds_keyed_encoder(value: object) -> bool:
    values = value.values() if isinstance(value, dict) else [value]
    return any(isinstance(v, TokenEncoder | BloomEncoder) for v in values)


def plaintext_agreements(agreements: AgreementSet, bits: dict[str, int]) -> AgreementSet:
    """``agreements`` with the filters of each keyed domain ``bits`` wide (``bits`` by domain)."""
    document = agreements.partnership.model_dump(mode="json", by_alias=True)
    for column, field in _BLOOM_FIELDS.items():
        document["encoding"]["bloom"][field]["bits"] = bits[BLOOM_KEY_LABELS[column]]
    return AgreementSet(agreements.directory, Partnership.model_validate(document), agreements.agreements)


@contextmanager
def _plaintext_encoding(numberings: dict[str, BigramNumbering]) -> Iterator[list[PlaintextExtractEncoder]]:
    """Sealing in this process encodes in plaintext (``chunk_pool`` builds the encoder); yields
    the encoders built, so the caller can check that sealing went through them."""
    built: list[PlaintextExtractEncoder] = []

    def build(key, partnership, agreement, extract_date):
        built.append(PlaintextExtractEncoder(key, partnership, agreement, extract_date, numberings=numberings))
        return built[-1]

    with mock.patch.object(chunk_pool, "ExtractEncoder", build):
        yield built


@dataclass(frozen=True)
class RawExtractFile:
    path: Path
    source: str


@dataclass
class PlaintextSealing:
    reports: list[ExtractReport]
    bits: dict[str, int]  # filter width per keyed domain
    bigrams: dict[str, int]  # distinct bigrams met per keyed domain
    seconds: float  # the last (successful) attempt
    attempts: int


def seal_plaintext(extracts: list[RawExtractFile], out: Path, key: PartnershipKey, agreements: AgreementSet, *,
                   date_format: str | None, extract_date: dt.date) -> PlaintextSealing:
    """Seal each raw extract into ``out/<source>.sealed`` as ``pseudonymise`` does, with plaintext
    tokens and exact bigram sets; every file in one process (workers=1), in the order given."""
    partnership = agreements.partnership.encoding.bloom
    bits = {BLOOM_KEY_LABELS[c]: partnership[f].bits for c, f in _BLOOM_FIELDS.items()}
    attempts = 0
    while True:
        attempts += 1
        numberings = {domain: BigramNumbering(domain, width) for domain, width in bits.items()}
        widened = plaintext_agreements(agreements, bits)
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("*.sealed"):
            stale.unlink()
        start = time.perf_counter()
        try:
            with _plaintext_encoding(numberings) as built:
                reports = []
                for e in extracts:
                    before = len(built)
                    reports.append(pseudonymise(e.path, out / f"{e.source}.sealed", e.source, key, widened,
                                                date_format=date_format, extract_date=extract_date, workers=1))
                    if len(built) == before:  # protocols.seal no longer builds its encoder in chunk_pool
                        raise RuntimeError(f"{e.path.name} was sealed without the plaintext encoder: "
                                           "see how protocols.seal builds its ExtractEncoder")
        except FilterFull as full:
            bits[full.domain] = 2 * full.bits
            if bits[full.domain] > 65536:
                raise
            continue
        seconds = time.perf_counter() - start
        for report in reports:
            if not report.reconciled:
                raise RuntimeError(f"{report.path}: counts do not reconcile")
        return PlaintextSealing(reports, bits, {d: len(n.bit_of) for d, n in numberings.items()}, seconds, attempts)
