"""Privacy attacks on a sealed synthetic county: dictionary, frequency and Bloom-filter pattern mining.

Usage:
    python benchmarks/bench_privacy.py --people 20000 --seed 7      # prints the Markdown tables

The county is generated, then sealed with a fresh random partnership key the attacker does
not have. The attacker holds every sealed extract (the hub's view), the raw files' names,
dates of birth and postcodes (a dictionary far better than any real one), and the synthetic
generator's own name frequency tables (``familylink/synth/data/given_names.csv`` and
``family_names.csv``) as the "public frequency list": the population was drawn from exactly
those weights, so the frequency attacks here are a worst case for the defender.

Units: a *record* is one (source, record_id) of the sealed extracts (its first row), which
is what the hub counts. A guess is checked by encoding the guessed name with the true key
(the evaluator's privilege): it is right exactly when the guessed name is the record's
normalised name.

a. Dictionary: every candidate value encoded with unkeyed SHA-256, HMAC under an empty and
   under guessed keys (used directly, and as the secret of the project's HKDF derivation),
   and under a wrong random key, with the project's TokenEncoder and BloomEncoder; hits
   against every sealed token and Bloom filter. The true key is run as a control.
b. Frequency: sealed ``tok_given_first`` / ``tok_family`` ranked by record count, aligned
   rank by rank with the public list.
c. Pattern mining (after Christen et al. 2017/2018, simplified): the ``top`` most frequent
   ``bf_given`` / ``bf_family`` filters are aligned with the most frequent public names; for
   each bigram of those names, its bit positions are taken as the bits set in every aligned
   filter whose name has it, minus the bits of every aligned filter whose name lacks it. Each
   other filter is then re-identified as the public name whose bigram set equals the set of
   bigrams whose positions it covers (or, failing that, the largest such name with at most
   one unexplained bigram).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import familylink.synth
from familylink.core.contract import SEALED_TOKEN_COLUMNS, SEALED_TOKEN_LIST_COLUMNS, SOURCES
from familylink.pipeline import seal_folder
from familylink.synth import generate_county
from protocols.agreements import AgreementSet, default_agreements_dir, load_agreements
from protocols.assessment import COOCCURRENCE_CLEAR
from protocols.encoders import BloomEncoder, TokenEncoder
from protocols.encoding import BLOOM_KEY_LABELS
from protocols.intruder import (
    DOB_TOKEN_PLAINTEXT,
    PLAINTEXT_OF_CLEAR,
    PUBLIC_KIND_OF,
    HubView,
    cooccurrence,
    expected_alignment_share,
    frequency_alignment,
    graph_alignment,
    graph_confident_share,
    load_hub_view,
    pinned_join,
    value_counts,
)
from protocols.keys import PartnershipKey, generate_key
from protocols.normalise import (
    bigrams,
    canonical_given_name,
    metaphone,
    name_parts,
    normalise_address,
    nysiis,
    parse_postcode,
)
from protocols.normalise.names import family_name_parts
from protocols.protocol_document import key_label
from protocols.sealed import open_sealed_folder

REFERENCE = dt.date(2026, 9, 30)
PUBLIC_LISTS = Path(familylink.synth.__file__).parent / "data"
#: Bloom settings field -> its sealed column (whose key label protocols.encoding names).
_BLOOM_COLUMN = {"given_name": "bf_given", "family_name": "bf_family", "address": "bf_address"}
NAME_FIELDS = {"given": ("tok_given_first", "bf_given", "given_name"),
               "family": ("tok_family", "bf_family", "family_name")}
#: Both name filters pooled: every record's bf_given and bf_family as two filters of one
#: column, attacked with one public list (the given and family lists averaged). Since schema
#: version 2 both are made under one key, so a bigram sets the same bits in either field and
#: pooling gives the pattern-mining attacks twice the filters to mine.
POOLED = "given+family"
POOLED_FIELDS = {POOLED: (None, "bf_name", "given_name")}
#: Keys an attacker might guess (used as the HMAC key directly, and as the partnership secret).
GUESSED_KEYS = {"'familylink'": b"familylink", "'partnership'": b"partnership", "'secret'": b"secret",
                "'password'": b"password", "'key'": b"key", "32 zero bytes": b"\x00" * 32,
                "32 x '0'": b"0" * 32}
#: Sealed token column -> the kind of candidate value encoded under its key.
TOKEN_PURPOSES = {
    "tok_given_first": "name", "tok_middle": "name", "tok_family": "name",
    "tok_family_parts": "name", "name_part": "name", "tok_dob": "dob", "tok_postcode": "postcode",
    "tok_postcode_sector": "postcode", "tok_address": "address",
}


@dataclass
class SealedCounty:
    key: PartnershipKey
    raw_dir: Path
    sealed_dir: Path
    agreements: AgreementSet


def seal_county(people: int, seed: int, work: Path, shape: str | None = None) -> SealedCounty:
    """A synthetic county in ``work/county`` sealed with a fresh random key into ``work/sealed``."""
    agreements = load_agreements(default_agreements_dir())
    shutil.rmtree(work, ignore_errors=True)
    generate_county(people, seed, REFERENCE, work / "county", shape=shape)
    key = generate_key()
    seal_folder(work / "county" / "raw", work / "sealed", key, agreements, extract_date=REFERENCE, overwrite=True)
    return SealedCounty(key, work / "county" / "raw", work / "sealed", agreements)


def sealed_records(sealed_dir: Path) -> list[dict]:
    """The first sealed row of every (source, record_id): its name tokens and filters."""
    columns = ["source", "record_id", "tok_given_first", "tok_family", "bf_given", "bf_family"]
    records: dict[tuple[str, str], dict] = {}
    for extract in open_sealed_folder(sealed_dir):
        for row in extract.read_table(columns).to_pylist():
            records.setdefault((row["source"], row["record_id"]), row)
    return list(records.values())


def sealed_values(sealed_dir: Path) -> tuple[set[str], set[bytes]]:
    """Every token (all ``tok_*`` columns, lists flattened) and every Bloom filter sealed."""
    tokens: set[str] = set()
    filters: set[bytes] = set()
    for extract in open_sealed_folder(sealed_dir):
        table = extract.read_table()
        for column in table.column_names:
            for value in table[column].to_pylist():
                if column.startswith("tok_"):
                    tokens.update(value if isinstance(value, list) else [value] if value else [])
                elif column.startswith("bf_") and value:
                    filters.add(value)
    return tokens, filters


def _joined(text: str) -> str:
    return " ".join(name_parts(text))


def public_frequencies() -> dict[str, dict[str, float]]:
    """The public frequency lists: normalised name -> share of people, for 'given' and 'family'.

    Communities weigh by their share of the county (communities.csv); given names average
    the young and old cohort weights and both sexes.
    """
    with open(PUBLIC_LISTS / "communities.csv", encoding="utf-8") as handle:
        share: Counter[str] = Counter()
        for row in csv.DictReader(handle):
            share[row["community"]] += float(row["weight"])
    total = sum(share.values())
    given: Counter[str] = Counter()
    family: Counter[str] = Counter()
    with open(PUBLIC_LISTS / "given_names.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sums: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        for cohort in ("weight_young", "weight_old"):
            sums[row["community"], row["sex"], cohort] += float(row[cohort])
    for row in rows:
        for cohort in ("weight_young", "weight_old"):
            weight = float(row[cohort]) / (sums[row["community"], row["sex"], cohort] or 1)
            given[name_parts(row["name"])[0]] += share[row["community"]] / total * weight / 4
    with open(PUBLIC_LISTS / "family_names.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    community_sum: Counter[str] = Counter()
    for row in rows:
        community_sum[row["community"]] += float(row["weight"])
    for row in rows:
        weight = share[row["community"]] / total * float(row["weight"]) / community_sum[row["community"]]
        for form in ("name_m", "name_f"):
            family[_joined(row[form])] += weight / 2
    return {"given": dict(given), "family": dict(family)}


def raw_rows(raw_dir: Path):
    """(source, row) for every row of every raw extract present in ``raw_dir``."""
    for source in SOURCES:
        path = raw_dir / f"{source}.csv"
        if path.is_file():
            with open(path, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    yield source, row


def record_rows(raw_dir: Path):
    """(source, row) for the first row of each record (source and record_id) of the raw
    extracts in ``raw_dir``: a record is what the hub counts."""
    seen: set[tuple[str, str]] = set()
    for source, row in raw_rows(raw_dir):
        if (source, row["record_id"]) not in seen:
            seen.add((source, row["record_id"]))
            yield source, row


def raw_candidates(raw_dir: Path) -> dict[str, set[str]]:
    """The dictionary from the raw files: name forms, ISO dates of birth, postcode units and
    sectors, address keys."""
    values: dict[str, set[str]] = defaultdict(set)
    for _source, row in raw_rows(raw_dir):
        for column in ("given_name", "middle_names", "family_name"):
            parts = name_parts(row.get(column) or "")
            if parts:
                values["name"].update({" ".join(parts), "".join(parts), *parts})
        with contextlib.suppress(ValueError):
            values["dob"].add(dt.date.fromisoformat((row.get("date_of_birth") or "").strip()).isoformat())
        try:
            postcode = parse_postcode(row.get("postcode"))
        except ValueError:
            postcode = None
        if postcode:
            values["postcode"].update({postcode.unit, postcode.sector})
        if row.get("address"):
            values["address"].add(normalise_address(row["address"]).key)
    return values


def _attacker_keys(secret: PartnershipKey) -> dict[str, tuple[str, object]]:
    """label -> ('raw', key bytes used directly) or ('derived', a PartnershipKey)."""
    keys: dict[str, tuple[str, object]] = {"unkeyed SHA-256": ("sha256", b""), "HMAC, empty key": ("raw", b"")}
    for label, guess in GUESSED_KEYS.items():
        keys[f"HMAC, guessed key {label}"] = ("raw", guess)
        guessed = guess if len(guess) == 32 else hashlib.sha256(guess).digest()
        keys[f"project HKDF from guessed secret {label}"] = ("derived", PartnershipKey(guessed))
    keys["HKDF from a wrong random secret"] = ("derived", generate_key())
    keys["true key (control)"] = ("derived", secret)
    return keys


def dictionary_attack(county: SealedCounty, extra_names: set[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """label -> (token hits, Bloom filter hits) for every attacker key, plus the true-key control."""
    tokens, filters = sealed_values(county.sealed_dir)
    candidates = raw_candidates(county.raw_dir)
    candidates["name"] |= set(extra_names)
    encoding = county.agreements.partnership.encoding
    size = encoding.token_bytes
    blooms = {"given_name": "name", "family_name": "name", "address": "address"}
    results = {}
    for label, (kind, key) in _attacker_keys(county.key).items():
        guesses: set[str] = set()
        made: set[bytes] = set()
        for column, what in TOKEN_PURPOSES.items():
            if kind == "sha256":
                guesses.update(hashlib.sha256(v.encode("utf-8")).hexdigest()[:2 * size] for v in candidates[what])
                continue
            field_key = key.field_key(f"token/{column}") if kind == "derived" else key
            guesses.update(TokenEncoder(field_key, size).encode_many(candidates[what]))
        if kind != "sha256":
            for field, what in blooms.items():
                settings = encoding.bloom[field]
                field_key = key.field_key(BLOOM_KEY_LABELS[_BLOOM_COLUMN[field]]) if kind == "derived" else key
                made.update(BloomEncoder(field_key, settings.bits, settings.hashes).encode_many(candidates[what]))
        results[label] = (len(tokens & guesses), len(filters & made))
    return results


@dataclass(frozen=True)
class AttackResult:
    """Records whose name the attack re-identified correctly, out of the records it applies to."""

    field: str
    attack: str
    records: int
    reidentified: int
    names_right: int          # distinct names (encodings) guessed right
    smallest_group: int       # fewest records sharing a correctly guessed name (0 if none)
    guesses: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # encoding -> name guessed

    @property
    def share(self) -> float:
        return self.reidentified / self.records if self.records else 0.0


def _true_encoders(county: SealedCounty, field: str) -> tuple[TokenEncoder, BloomEncoder]:
    token_column, bloom_column, bloom_field = {**NAME_FIELDS, **POOLED_FIELDS}[field]
    encoding = county.agreements.partnership.encoding
    settings = encoding.bloom[bloom_field]
    return (TokenEncoder(county.key.field_key(f"token/{token_column}"), encoding.token_bytes),
            BloomEncoder(county.key.field_key(BLOOM_KEY_LABELS["bf_given" if field == POOLED else bloom_column]),
                         settings.bits, settings.hashes))


def _ranked(counts: Counter) -> list:
    return [value for value, _ in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))]


def _score(field: str, attack: str, counts: Counter, guesses: dict, truth, total: int | None = None) -> AttackResult:
    """Records re-identified: those whose encoding's guess encodes (true key) to that encoding.
    ``total`` (default: every record in ``counts``) is the denominator of the share."""
    right = {value: guesses[value] for value in guesses if truth(guesses[value]) == value}
    sizes = [counts[value] for value in right]
    return AttackResult(field, attack, sum(counts.values()) if total is None else total, sum(sizes), len(right),
                        min(sizes, default=0), dict(guesses))


def frequency_attack(county: SealedCounty, records: list[dict], public: dict[str, dict[str, float]],
                     field: str) -> AttackResult:
    """Rank-by-rank alignment of the sealed name tokens with the public list."""
    column = NAME_FIELDS[field][0]
    counts = Counter(r[column] for r in records if r[column])
    names = _ranked(Counter(public[field]))
    guesses = dict(zip(_ranked(counts), names, strict=False))
    token, _ = _true_encoders(county, field)
    return _score(field, "frequency (tokens)", counts, guesses, token.encode)


def _mask(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _locate(aligned: list[tuple[bytes, str]], grams: dict[str, frozenset], limit: int) -> dict[str, int]:
    """Bigram -> the bit positions set in every aligned filter whose name has it (two or more
    filters, at most ``limit`` positions; subtracting the bits of the filters whose names lack
    it, as in the textbook attack, empties nearly every bigram at these settings, where each
    position is shared by many bigrams)."""
    positions = {}
    for gram in {g for _, name in aligned for g in grams[name]}:
        inside, seen = -1, 0
        for data, name in aligned:
            if gram in grams[name]:
                inside &= _mask(data)
                seen += 1
        if seen >= 2 and 0 < inside.bit_count() <= limit:
            positions[gram] = inside
    return positions


def _mine(filters: list[bytes], positions: dict[str, int], names: list[str], grams: dict[str, frozenset],
          weight: dict[str, float]) -> dict[bytes, str]:
    """Filter -> the public name whose predicted filter (the union of its bigrams' positions)
    it contains best: at least 95% of the predicted bits set, Dice at least 0.8."""
    predicted = {}
    for name in names:
        if grams[name] and grams[name] <= positions.keys():
            bits = 0
            for gram in grams[name]:
                bits |= positions[gram]
            predicted[name] = bits
    guesses = {}
    for data in filters:
        value = _mask(data)
        best, guess = (0.0, 0.0, 0.0), None
        for name, bits in predicted.items():
            common = (bits & value).bit_count()
            score = (common / bits.bit_count(), 2 * common / (bits.bit_count() + value.bit_count()), weight[name])
            if score > best:
                best, guess = score, name
        if guess is not None and best[0] >= 0.95 and best[1] >= 0.8:
            guesses[data] = guess
    return guesses


def pattern_attack(county: SealedCounty, records: list[dict], public: dict[str, dict[str, float]],
                   field: str, top: int = 20, bloom: BloomEncoder | None = None) -> list[AttackResult]:
    """The frequency alignment of the ``top`` filters, pattern mining on every other filter
    from that alignment, and (a diagnostic, not an attack) the same mining from the true names
    of the ``top`` filters. ``bloom`` replaces the true encoder (the weakened control)."""
    column = {**NAME_FIELDS, **POOLED_FIELDS}[field][1]
    counts = Counter(r[column] for r in records if r[column])
    total = sum(counts.values())
    ranked = _ranked(counts)
    names = _ranked(Counter(public[field]))
    grams = {name: frozenset(bigrams(name)) for name in names}
    bloom = bloom or _true_encoders(county, field)[1]
    limit = 2 * bloom.hashes
    aligned = list(zip(ranked[:top], names[:top], strict=False))
    results = [_score(field, f"frequency (top {top} filters)", Counter({f: counts[f] for f, _ in aligned}),
                      dict(aligned), bloom.encode, total)]
    truth = {bloom.encode(name): name for name in names}
    oracle = [(f, truth[f]) for f in ranked[:top] if f in truth]
    rest = Counter({f: counts[f] for f in ranked[top:]})
    for label, alignment in (("pattern mining", aligned), ("pattern mining from the true top names "
                                                            "(upper bound)", oracle)):
        positions = _locate(alignment, grams, limit)
        guesses = _mine(ranked[top:], positions, names, grams, public[field])
        results.append(_score(field, f"{label}: other filters, {len(positions)} bigrams located", rest, guesses,
                              bloom.encode, total))
    return results


def _grow(matrix: np.ndarray, weights: np.ndarray, seed: int, used: np.ndarray, floor: float,
          hashes: int) -> tuple[list[int], float]:
    """Greedily extend {seed} with the position set in most of the records that have all the
    positions so far; stop at a cliff (support falls by over 25%) or below ``floor``."""
    rows = matrix[:, seed] > 0
    pattern, support = [seed], float(weights[rows].sum())
    while len(pattern) < 2 * hashes:
        supports = weights[rows] @ matrix[rows]
        supports[pattern] = -1
        supports[used] = -1
        best = int(np.argmax(supports))
        if supports[best] < max(floor, 0.75 * support):
            break
        pattern.append(best)
        rows &= matrix[:, best] > 0
        support = float(supports[best])
    return pattern, support


def frequent_pattern_attack(county: SealedCounty, records: list[dict], public: dict[str, dict[str, float]],
                            field: str, bigram_count: int = 40) -> AttackResult:
    """Pattern mining without aligning whole filters (after Christen et al. 2018, simplified):
    for the public list's bigrams, most frequent first, find the unused set of bit positions
    that co-occur in the most records (at least 60% of k positions), label it with that bigram,
    then re-identify filters as in ``pattern_attack``. The label reports how many patterns are
    genuine single-bigram patterns and how many carry the right label (checked with the key)."""
    column = {**NAME_FIELDS, **POOLED_FIELDS}[field][1]
    counts = Counter(r[column] for r in records if r[column])
    filters = _ranked(counts)
    total = sum(counts.values())
    _, bloom = _true_encoders(county, field)
    matrix = np.unpackbits(np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(len(filters), -1),
                           axis=1)[:, ::-1].astype(np.float32)  # column p = bit p
    weights = np.array([counts[f] for f in filters], dtype=np.float32)
    names = _ranked(Counter(public[field]))
    grams = {name: frozenset(bigrams(name)) for name in names}
    frequency: Counter[str] = Counter()
    for name, share in public[field].items():
        frequency.update(dict.fromkeys(grams[name], share))
    single = weights @ matrix
    used = np.zeros(matrix.shape[1], dtype=bool)
    positions: dict[str, int] = {}
    for gram, share in frequency.most_common(bigram_count):
        floor = 0.3 * share * total
        visited, best = used.copy(), None
        for seed in np.argsort(-single, kind="stable"):
            if visited[seed] or single[seed] < floor:
                continue
            pattern, support = _grow(matrix, weights, int(seed), used, floor, bloom.hashes)
            visited[pattern] = True
            if len(pattern) >= 0.6 * bloom.hashes and (best is None or support > best[1]):
                best = (pattern, support)
        if best is not None:
            positions[gram] = sum(1 << int(p) for p in best[0])
            used[best[0]] = True
    every = {g for name in names for g in grams[name]}
    genuine = sum(any(bloom._gram_mask(g) & m == m for g in every) for m in positions.values())
    right = sum(bloom._gram_mask(g) & m == m for g, m in positions.items())
    guesses = _mine(filters, positions, names, grams, public[field])
    return _score(field, f"frequent-pattern mining: {len(positions)} patterns, {genuine} genuine, {right} "
                  "labelled right", Counter(counts), guesses, bloom.encode, total)


def run_attacks(county: SealedCounty, top: int = 20) -> tuple[dict[str, tuple[int, int]], list[AttackResult]]:
    """Every attack on ``county``: the dictionary table and the re-identification results."""
    public = public_frequencies()
    dictionary = dictionary_attack(county, set(public["given"]) | set(public["family"]))
    records = sealed_records(county.sealed_dir)
    results = []
    for field in NAME_FIELDS:
        results.append(frequency_attack(county, records, public, field))
        results += pattern_attack(county, records, public, field, top)
        results.append(frequent_pattern_attack(county, records, public, field))
    pooled, pooled_public = pooled_names(records, public)
    results += pattern_attack(county, pooled, pooled_public, POOLED, top)
    results.append(frequent_pattern_attack(county, pooled, pooled_public, POOLED))
    return dictionary, results


def pooled_names(records: list[dict], public: dict[str, dict[str, float]]) -> tuple[list[dict], dict]:
    """Every record's two name filters as rows of one column ``bf_name``, and the public list
    for them: the given and family lists averaged (a name on both lists adds up)."""
    pooled = [{"bf_name": r[column]} for r in records for column in ("bf_given", "bf_family")]
    shares: Counter[str] = Counter()
    for field in NAME_FIELDS:
        for name, share in public[field].items():
            shares[name] += share / len(NAME_FIELDS)
    return pooled, {**public, POOLED: dict(shares)}


def markdown(dictionary: dict[str, tuple[int, int]], results: list[AttackResult]) -> str:
    lines = ["| attacker's encoding | token hits | Bloom filter hits |", "|---|---:|---:|"]
    lines += [f"| {label} | {t:,} | {b:,} |" for label, (t, b) in dictionary.items()]
    lines += ["", "| field | attack | records | re-identified | share | names right | smallest group |",
              "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.field} | {r.attack} | {r.records:,} | {r.reidentified:,} | {r.share:.2%} | {r.names_right} | "
              f"{r.smallest_group:,} |" for r in results]
    return "\n".join(lines)


# --- the release gate: every attack with the hub's view and a public list from another county ---


def public_counts_from_raw(raw_dir: Path) -> dict[str, Counter]:
    """Plaintext value counts per public-list kind (``protocols.intruder.PUBLIC_KIND_OF``)
    over the records (first row per source and record_id) of a county's raw files: what a
    public list built from a comparable population holds, normalised as the sealing does."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for _, row in record_rows(raw_dir):
        given = tuple(name_parts(row.get("given_name") or ""))
        middle = tuple(name_parts(row.get("middle_names") or ""))
        family = tuple(name_parts(row.get("family_name") or ""))
        if given:
            first = given[0]
            counts["given"][" ".join(given)] += 1
            counts["given_first"][first] += 1
            counts["given_canon"][canonical_given_name(first)] += 1
            counts["given_nysiis"][nysiis(first)] += 1
            counts["given_metaphone"][metaphone(first)] += 1
        if family:
            joined = "".join(family)
            counts["family"][" ".join(family)] += 1
            counts["family_nysiis"][nysiis(joined)] += 1
            counts["family_metaphone"][metaphone(joined)] += 1
            counts["family_part"].update(set(family_name_parts(family)))
        if middle:
            counts["middle"][" ".join(middle)] += 1
        counts["name_part"].update(set(given) | set(middle) | set(family))
        with contextlib.suppress(ValueError):
            dob = dt.date.fromisoformat((row.get("date_of_birth") or "").strip())
            counts["dob_year"][f"{dob.year:04d}"] += 1
            counts["dob_month"][f"{dob.month:02d}"] += 1
            counts["dob_day"][f"{dob.day:02d}"] += 1
    return {kind: Counter({v: c for v, c in values.items() if v}) for kind, values in counts.items()}


def shares(counts: dict[str, Counter]) -> dict[str, dict[str, float]]:
    return {kind: {v: c / sum(values.values()) for v, c in values.items()} for kind, values in counts.items()
            if values}


def write_public_list(counts: dict[str, Counter], path: Path, label: str) -> None:
    """The public list as ``kind,value,count`` with a comment saying where it came from."""
    lines = [f"# {label}", "kind,value,count"]
    for kind in sorted(counts):
        lines += [f"{kind},{value},{count}" for value, count in sorted(counts[kind].items()) if "," not in value]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def public_county(people: int, seed: int, work: Path, shape: str | None = None) -> dict[str, dict[str, float]]:
    """The public list: value shares of a second county, generated with its own seed."""
    out = work / "public-county"
    shutil.rmtree(out, ignore_errors=True)
    generate_county(people, seed, REFERENCE, out, shape=shape)
    return shares(public_counts_from_raw(out / "raw"))


@dataclass(frozen=True)
class GateResult:
    """One attack of the release gate: records re-identified (checked with the key), the
    intruder's own estimate where it has one, and the control run of the same attack."""

    attack: str
    column: str
    records: int
    reidentified: int
    estimate: float | None = None
    control: float | None = None
    note: str = ""

    @property
    def share(self) -> float:
        return self.reidentified / self.records if self.records else 0.0


def _column_truth(county: SealedCounty, column: str):
    """plaintext -> what the sealing makes of it in ``column`` (with the true key)."""
    encoding = county.agreements.partnership.encoding
    if column in _BLOOM_COLUMN.values():
        field = {v: k for k, v in _BLOOM_COLUMN.items()}[column]
        settings = encoding.bloom[field]
        return BloomEncoder(county.key.field_key(BLOOM_KEY_LABELS[column]), settings.bits, settings.hashes).encode
    return TokenEncoder(county.key.field_key(key_label(column)), encoding.token_bytes).encode


def _reidentified(values: list, guesses: dict, truth) -> int:
    """Records with at least one value whose guess encodes (true key) to that value."""
    right = {value for value, guess in guesses.items() if truth(guess) == value}
    hits = 0
    for value in values:
        if isinstance(value, list):
            hits += any(v in right for v in value)
        elif value is not None:
            hits += value in right
    return hits


def frequency_gate(county: SealedCounty, view: HubView, public: dict, own: dict) -> list[GateResult]:
    """Frequency alignment on every token and name Bloom column with a public list; control:
    the same alignment with the county's own value frequencies as the public list."""
    results = []
    total = len(view.records)
    for column in [*SEALED_TOKEN_COLUMNS, *SEALED_TOKEN_LIST_COLUMNS, "bf_given", "bf_family"]:
        values = view.column(column)
        counts = value_counts(values)
        kind = PUBLIC_KIND_OF.get(column)
        if not counts:
            continue
        if kind is None:
            results.append(GateResult("frequency", column, total, 0, note="no public list of these values"))
            continue
        truth = _column_truth(county, column)
        hits = _reidentified(values, frequency_alignment(counts, public[kind]), truth)
        control = _reidentified(values, frequency_alignment(counts, own[kind]), truth)
        with_value = sum(1 for v in values if v not in (None, "", []))
        estimate = expected_alignment_share(public[kind], with_value, total)
        results.append(GateResult("frequency", column, total, hits, estimate, control / total))
    return results


def cooccurrence_gate(county: SealedCounty, view: HubView, true_dobs: dict) -> list[GateResult]:
    """Every token column against every clear attribute; re-identified where the decoded
    clear value gives the plaintext, checked with the key. Then the date-of-birth tokens
    joined with the date the clear columns pin (exact, so one pinned record decodes a token).
    Control: the true date of birth as if it travelled in clear, joined the same way."""
    results = []
    total = len(view.records)
    for column in SEALED_TOKEN_COLUMNS:
        tokens = view.column(column)
        if not any(tokens):
            continue
        truth = _column_truth(county, column)
        for clear in COOCCURRENCE_CLEAR:
            found = cooccurrence(tokens, view.column(clear), column, clear)
            plaintext = PLAINTEXT_OF_CLEAR.get((column, clear))
            if plaintext is None:
                if found.share > 0:
                    results.append(GateResult("co-occurrence", f"{column} x {clear}", total, 0, found.share,
                                              note="one-to-one with the clear value, no plaintext"))
                continue
            guesses = {token: plaintext(value) for token, value in found.decoding.items()}
            hits = _reidentified(tokens, guesses, truth)
            results.append(GateResult("co-occurrence", f"{column} x {clear}", total, hits, found.share))
    pinned = view.column("birth_date_pinned")
    own = sum(1 for v in pinned if v)
    for column, plaintext in DOB_TOKEN_PLAINTEXT.items():
        tokens = view.column(column)
        guesses = pinned_join(tokens, pinned, plaintext)
        hits = _reidentified(tokens, guesses, _column_truth(county, column))
        estimate = sum(1 for t in tokens if t in guesses) / total if total else 0.0
        results.append(GateResult("co-occurrence", f"{column} x birth_date_pinned", total, hits, estimate,
                                  note=f"{own:,} records pinned by their own clear columns"))
    dobs = [true_dobs.get((r["source"], r["record_id"])) for r in view.records]
    tokens = view.column("tok_dob")
    control = _reidentified(tokens, pinned_join(tokens, dobs), _column_truth(county, "tok_dob"))
    results.append(GateResult("co-occurrence", "tok_dob x true date of birth in clear (control)", total, control,
                              None, control / total))
    return results


def clear_dob_gate(county: SealedCounty, view: HubView) -> GateResult:
    """The whole date of birth from the clear columns alone (no token): records whose age at
    the extract date (in months where the agreement sends them, else in years) and ages at
    their dated events leave one day (checked with the key: the pinned date encodes to the
    record's ``tok_dob``)."""
    truth = _column_truth(county, "tok_dob")
    hits = sum(1 for r in view.records if r["birth_date_pinned"] and truth(r["birth_date_pinned"]) == r["tok_dob"])
    return GateResult("clear attributes", "date of birth pinned by the clear ages (age_months or age_years, "
                      "age_at_event)", len(view.records), hits,
                      note="no token involved: an age that changes between two dated events")


def graph_gate(county: SealedCounty, view: HubView, public: dict, own: dict) -> list[GateResult]:
    """The similarity-graph attack on bf_given and bf_family; control: the county's own names
    as the public list."""
    results = []
    total = len(view.records)
    for column in ("bf_given", "bf_family"):
        kind = PUBLIC_KIND_OF[column]
        values = view.column(column)
        counts = value_counts(values)
        truth = _column_truth(county, column)
        alignment = graph_alignment(counts, public[kind])
        hits = _reidentified(values, alignment.guesses, truth)
        estimate, _ = graph_confident_share(alignment, counts, total)
        control = _reidentified(values, graph_alignment(counts, own[kind]).guesses, truth)
        results.append(GateResult("similarity graph", column, total, hits, estimate, control / total))
    return results


def raw_dobs(raw_dir: Path) -> dict[tuple[str, str], str]:
    """(source, record_id) -> the date of birth in the raw file, ISO (the evaluator's truth)."""
    dobs = {}
    for source, row in raw_rows(raw_dir):
        with contextlib.suppress(ValueError):
            dobs.setdefault((source, row["record_id"]),
                            dt.date.fromisoformat((row.get("date_of_birth") or "").strip()).isoformat())
    return dobs


#: The weakened encoding of the pattern-mining control: 2 hashes per bigram instead of the
#: partnership's, so each bigram's positions stand out (the attack the settings defend against).
WEAK_HASHES = 2


def pattern_control(county: SealedCounty, public: dict[str, dict[str, float]], field: str,
                    top: int = 20) -> list[AttackResult]:
    """Pattern mining against the county's names encoded with a weakened Bloom encoder (same
    size, ``WEAK_HASHES`` hashes, a random key the attacker does not have): the control that
    shows the mining harness succeeds where the encoding lets it."""
    column = NAME_FIELDS[field][1]
    settings = county.agreements.partnership.encoding.bloom[NAME_FIELDS[field][2]]
    weak = BloomEncoder(generate_key().field_key("bloom/weak-control"), settings.bits, WEAK_HASHES)
    truth = "family_name" if field == "family" else "given_name"
    records = [{column: weak.encode(" ".join(name_parts(row.get(truth) or ""))) or None}
               for _, row in record_rows(county.raw_dir)]
    return pattern_attack(county, records, public, field, top, bloom=weak)


def release_gate(county: SealedCounty, public: dict[str, dict[str, float]]) -> list[GateResult]:
    """Frequency on every column, co-occurrence of every token column with every clear
    attribute, and the similarity-graph attack, each with its control."""
    view = load_hub_view(county.sealed_dir)
    own = shares(public_counts_from_raw(county.raw_dir))
    return (frequency_gate(county, view, public, own) + cooccurrence_gate(county, view, raw_dobs(county.raw_dir))
            + [clear_dob_gate(county, view)] + graph_gate(county, view, public, own)
            + pattern_gate(county, public))


def pattern_gate(county: SealedCounty, public: dict[str, dict[str, float]], top: int = 20) -> list[GateResult]:
    """Pattern mining from the aligned top filters (the public list from the second county).
    Control: the same mining on a weakened encoding (``WEAK_HASHES`` hashes) given the true
    names of the top 100 filters (the harness's upper bound where the encoding lets it)."""
    records = sealed_records(county.sealed_dir)
    results = []
    for field in NAME_FIELDS:
        listed = {**public, field: public["given" if field == "given" else "family"]}
        mined = pattern_attack(county, records, listed, field, top)[1]
        control = pattern_control(county, listed, field, 100)[2]
        results.append(GateResult("pattern mining", NAME_FIELDS[field][1], mined.records, mined.reidentified,
                                  None, control.share, mined.attack.split(": ", 1)[1]))
    return results


def gate_markdown(results: list[GateResult]) -> str:
    lines = ["| attack | column | records | re-identified | share | intruder's estimate | control | note |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        estimate = "-" if r.estimate is None else f"{r.estimate:.2%}"
        control = "-" if r.control is None else f"{r.control:.2%}"
        flag = " **over 1%**" if r.share > 0.01 else ""
        lines.append(f"| {r.attack} | `{r.column}` | {r.records:,} | {r.reidentified:,} | {r.share:.2%}{flag} | "
                     f"{estimate} | {control} | {r.note} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--public-seed", type=int, default=4242,
                        help="seed of the second county whose frequencies are the public list")
    parser.add_argument("--shape", default=None, help="county shape of both counties (e.g. concentrated-names)")
    parser.add_argument("--top", type=int, default=20, help="filters aligned before pattern mining")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/work"))
    parser.add_argument("--write-public-list", type=Path, default=None, metavar="FILE",
                        help="only write the public list of the --public-seed county to FILE and stop")
    args = parser.parse_args()
    work = args.work / f"privacy-{args.people}-{args.seed}"
    if args.write_public_list:
        out = work / "public-county"
        shutil.rmtree(out, ignore_errors=True)
        generate_county(args.people, args.public_seed, REFERENCE, out, shape=args.shape)
        write_public_list(public_counts_from_raw(out / "raw"), args.write_public_list,
                          f"synthetic: value frequencies of a second, independently seeded synthetic county "
                          f"(familylink synth, seed {args.public_seed}, {args.people:,} people); "
                          "not published national figures")
        print(f"Wrote {args.write_public_list}")
        return
    start = time.perf_counter()
    county = seal_county(args.people, args.seed, work, args.shape)
    public = public_county(args.people, args.public_seed, work, args.shape)
    sealed = time.perf_counter()
    dictionary, results = run_attacks(county, args.top)
    gate = release_gate(county, public)
    print(f"{args.people:,} people, seed {args.seed}, public list from seed {args.public_seed}, shape "
          f"{args.shape or 'default'}, top {args.top}: synth+seal {sealed - start:.1f} s, "
          f"attacks {time.perf_counter() - sealed:.1f} s\n")
    print(markdown(dictionary, results))
    print("\nRelease gate (public list from the second county):\n")
    print(gate_markdown(gate))


if __name__ == "__main__":
    main()
