"""What a motivated intruder at the hub can do with the sealed extracts and public knowledge.

The intruder holds what the hub holds (every sealed extract and its manifest, not the
partnership key) and a public list of plaintext frequencies (names, birth years, months,
days and month-days of a comparable population). Every attack here uses only that; none can check its own
guesses. ``benchmarks/bench_privacy.py`` scores the same guesses with the true key (the
evaluator's privilege) and ``protocols.assessment`` reports them, with the intruder's own
estimate of which guesses are safe, on real extracts.

Units: a *record* is one (source, record_id): the first sealed row of each, as the hub
counts them.

Attacks:

* ``frequency_alignment``: a column's values ranked by record count, aligned rank by rank
  with the public list for what the column encodes. ``expected_alignment_share`` is the
  intruder's own estimate of the records it gets right (simulated from the public list).
* ``cooccurrence``: a token column against a clear attribute (or one derived from clear
  columns and the manifest, such as the month of birth from ``age_months`` and the extract
  date). A token is *decoded* when its records share one clear value (90% or more) and
  that value's records share that token (90% or more), over 10 records or more: token and
  value are then one and the same, and whoever knows what the value means knows what the token encodes.
* ``pinned_join``: a token column against the date of birth the clear columns pin (the
  exact day, for the few records whose age in months at the extract date and ages at dated
  events leave one possible day): exact, so one pinned record decodes its token and every
  other record that carries it.
* ``graph_alignment``: the similarity-graph attack of Vidanage, Christen, Ranbaduge and
  Schnell (2020). The intruder builds the similarity graph of the commonest public names
  (bigram Dice) and of the commonest sealed Bloom filters (bit Dice, mapped onto the
  plaintext scale by matching quantiles), describes each node by its frequency rank, its
  degree at several similarity thresholds and its strongest neighbour similarities, and
  matches the two node sets greedily, the closest pair of unmatched nodes first.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from familylink.core.contract import (
    SEALED_BLOOM_COLUMNS,
    SEALED_TOKEN_COLUMNS,
    SEALED_TOKEN_LIST_COLUMNS,
)
from protocols.normalise import age_in_months, age_in_years, bigrams, swap_day_month
from protocols.sealed import SealedExtract, open_sealed_folder

#: Clear attributes the hub can derive from the sealed columns and the manifest, and how.
DERIVED_CLEAR = {
    "birth_year": "year of birth: the extract date less age_months",
    "birth_month": "month of birth: the extract date less age_months",
    "birth_year_month": "year and month of birth: the extract date less age_months",
    "birth_year_from_events": "year of birth from the first event's date less age_at_event (two-year range)",
    "birth_years_from_age": "year of birth from age_years and the extract date (two-year range)",
    "birth_cohort": "the finest age in clear: year and month of birth where age_months is sent, else the age in "
                    "years at the extract date",
    "birth_date_pinned": "the date of birth, where the clear columns leave one day: age_months at the extract "
                         "date, and the age at every dated event (an age that changes between two events)",
}
#: Clear columns read from the sealed rows (besides source and record_id).
CLEAR_COLUMNS = ("sex", "age_months", "age_years", "postcode_district")
#: Public-list kinds and the token or Bloom columns whose plaintext each describes.
PUBLIC_KIND_OF = {
    "tok_given_first": "given_first", "tok_given_canon": "given_canon",
    "tok_given_nysiis": "given_nysiis", "tok_given_metaphone": "given_metaphone", "tok_given_forms": "given_first",
    "tok_middle": "middle", "tok_family": "family", "tok_family_nysiis": "family_nysiis",
    "tok_family_metaphone": "family_metaphone", "tok_family_parts": "family_part", "tok_name_parts": "name_part",
    "bf_given": "given", "bf_family": "family",
}
#: Token columns the co-occurrence attack decodes into a known plaintext, and how the
#: clear value becomes the plaintext the column encodes.
#: Since encoding version 3 no sealed token encodes a value a clear attribute gives (year,
#: month, or year and month of birth): the map is empty, and ``cooccurrence_gate`` in
#: ``benchmarks/bench_privacy.py`` reports any one-to-one pair it still finds.
PLAINTEXT_OF_CLEAR: dict[tuple[str, str], Callable[[object], str]] = {}
#: Purity both ways for a token to count as decoded by a clear value, and the fewest records
#: the token must have (fewer is one person seen in several sources, not a decoding).
DECODE_PURITY = 0.9
DECODE_MIN_RECORDS = 10


@dataclass
class HubView:
    """Every record's first sealed row (token, Bloom and clear columns), and what the
    manifests say."""

    records: list[dict]
    sources: list[str]
    extract_dates: dict[str, dt.date]
    key_fingerprints: set[str]
    bloom_settings: dict[str, tuple[int, int]] = field(default_factory=dict)  # column -> (bits, hashes)

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.records]


def _months_back(date: dt.date, months: int) -> tuple[int, int]:
    index = date.year * 12 + date.month - 1 - months
    return index // 12, index % 12 + 1


def load_hub_view(extracts: str | Path | Iterable[SealedExtract]) -> HubView:
    """The hub's view of a folder of sealed extracts (or of extracts already opened)."""
    opened = open_sealed_folder(extracts) if isinstance(extracts, (str, Path)) else list(extracts)
    token_columns = [*SEALED_TOKEN_COLUMNS, *SEALED_TOKEN_LIST_COLUMNS]
    wanted = ["source", "record_id", *CLEAR_COLUMNS, "age_at_event", "event_date", *token_columns,
              *SEALED_BLOOM_COLUMNS]
    records: dict[tuple[str, str], dict] = {}
    first_events: dict[tuple[str, str], tuple] = {}
    bounds: dict[tuple, list] = {}  # (record, tok_dob) -> (lowest, highest) (year, month, day) of birth
    dates: dict[str, dt.date] = {}
    bloom: dict[str, tuple[int, int]] = {}
    for extract in opened:
        extract_date = dt.date.fromisoformat(extract.manifest["extract_date"])
        by_month = extract.manifest.get("date_precision") == "month"
        dates[extract.source] = extract_date
        settings = extract.manifest.get("partnership", {}).get("encoding", {}).get("bloom", {})
        for column, name in (("bf_given", "given_name"), ("bf_family", "family_name"), ("bf_address", "address")):
            if name in settings:
                bloom[column] = (int(settings[name]["bits"]), int(settings[name]["hashes"]))
        table = extract.read_table(wanted)
        for row in table.to_pylist():
            key = (row["source"], row["record_id"])
            if row["event_date"] is not None and row["age_at_event"] is not None:
                # only the rows with the same date of birth (a corrected date starts afresh)
                # (an event date cut to the month was any day of it)
                _narrow(bounds, (key, row["tok_dob"]), row["event_date"],
                        _month_end(row["event_date"]) if by_month else row["event_date"], int(row["age_at_event"]))
                seen = first_events.get(key)
                if seen is None or row["event_date"] < seen[0]:
                    first_events[key] = (row["event_date"], row["age_at_event"])
            if key in records:
                continue
            row.pop("event_date")
            row.pop("age_at_event")
            row["extract_date"] = extract_date
            if row["age_months"] is not None:
                year, month = _months_back(extract_date, int(row["age_months"]))
                row["birth_year"], row["birth_month"] = year, month
                row["birth_year_month"] = f"{year:04d}-{month:02d}"
            else:
                row["birth_year"] = row["birth_month"] = row["birth_year_month"] = None
            row["birth_cohort"] = row["birth_year_month"] or (
                None if row["age_years"] is None else f"aged {row['age_years']} on {extract_date.isoformat()}")
            if row["age_years"] is not None:
                year = extract_date.year - int(row["age_years"])
                row["birth_years_from_age"] = f"{year - 1}-{year}"
            else:
                row["birth_years_from_age"] = None
            records[key] = row
    for key, (event, age) in first_events.items():
        year = event.year - int(age)
        records[key]["birth_year_from_events"] = f"{year - 1}-{year}"
    for key, row in records.items():
        row.setdefault("birth_year_from_events", None)
        row["birth_date_pinned"] = _pinned_date(row, bounds.get((key, row["tok_dob"])))
    ordered = [records[k] for k in sorted(records)]
    return HubView(ordered, sorted(dates), dates, {e.key_fingerprint for e in opened}, bloom)


def _month_end(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1) - dt.timedelta(days=1)


def _narrow(bounds: dict, key: tuple, first: dt.date, last: dt.date, age: int) -> None:
    """Narrow a record's (year, month, day) of birth by one event: aged ``age`` on a day from
    ``first`` to ``last`` means born after (first's year - age - 1, month, day) and on or
    before (last's year - age, month, day)."""
    low, high = (first.year - age - 1, first.month, first.day), (last.year - age, last.month, last.day)
    seen = bounds.get(key)
    bounds[key] = [low, high] if seen is None else [max(seen[0], low), min(seen[1], high)]


def _pinned_date(row: dict, bounds: list | None) -> str | None:
    """The date of birth as ISO text when the record's clear columns leave exactly one day."""
    at = row["extract_date"]
    if row.get("age_months") is not None:
        months = int(row["age_months"])
        first, last = _months_back(at, months + 1), _months_back(at, months - 1)

        def fits(day: dt.date) -> bool:
            return age_in_months(day, at) == months
    elif row.get("age_years") is not None:
        years = int(row["age_years"])
        first, last = (at.year - years - 1, 1), (at.year - years, 12)

        def fits(day: dt.date) -> bool:
            return age_in_years(day, at) == years
    else:
        return None
    if bounds is None:
        return None
    day, found = dt.date(*first, 1), []
    while len(found) < 2 and day <= at and (day.year, day.month) <= last:
        if bounds[0] < (day.year, day.month, day.day) <= bounds[1] and fits(day):
            found.append(day)
        day += dt.timedelta(days=1)
    return found[0].isoformat() if len(found) == 1 else None


def _same_date(value: str) -> str:
    return value


def _swapped_date(value: str) -> str | None:
    swapped = swap_day_month(dt.date.fromisoformat(value))
    return swapped.isoformat() if swapped else None


#: the date-of-birth token columns and how each encodes a date (ISO): the whole date, and the
#: date with day and month swapped (None where the swap is no date)
DOB_TOKEN_PLAINTEXT = {"tok_dob": _same_date, "tok_dob_swapped": _swapped_date}


def pinned_join(tokens: list, pinned: list, plaintext: Callable[[str], str | None] = lambda v: v) -> dict:
    """Token -> the plaintext of the one date the clear columns pin for its records (tokens
    whose pinned records disagree are left out): a join on exact values, so one record is enough."""
    seen: dict = defaultdict(set)
    for token, value in zip(tokens, pinned, strict=True):
        if token and value:
            guess = plaintext(value)
            if guess:
                seen[token].add(guess)
    return {token: next(iter(values)) for token, values in seen.items() if len(values) == 1}


# --- the public list -------------------------------------------------------------------------


def read_public_list(path: str | Path) -> dict[str, dict[str, float]]:
    """A public frequency list: CSV ``kind,value,count`` (lines starting with ``#`` are
    comments) -> kind -> value -> share of that kind."""
    counts: dict[str, Counter] = defaultdict(Counter)
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    header = [h.strip() for h in lines[0].split(",")] if lines else []
    if header != ["kind", "value", "count"]:
        raise ValueError(f"{path}: expected the header kind,value,count")
    for number, line in enumerate(lines[1:], start=2):
        parts = line.rstrip("\n").split(",")
        if len(parts) != 3:
            raise ValueError(f"{path}: line {number} does not have three fields")
        try:
            counts[parts[0]][parts[1]] += float(parts[2])
        except ValueError:
            raise ValueError(f"{path}: line {number}: the count is not a number") from None
    return {kind: {v: c / sum(values.values()) for v, c in values.items()} for kind, values in counts.items()
            if sum(values.values()) > 0}


# --- frequency ---------------------------------------------------------------------------------


def ranked(counts: Mapping) -> list:
    """Values by count, most first; ties in value order (deterministic)."""
    return [value for value, _ in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))]


def value_counts(values: Iterable) -> Counter:
    """Records per value; a list value counts once for each distinct element."""
    counts: Counter = Counter()
    for value in values:
        if value is None or value == "":
            continue
        if isinstance(value, list):
            counts.update(set(value))
        else:
            counts[value] += 1
    return counts


def frequency_alignment(counts: Mapping, public: Mapping[str, float]) -> dict:
    """Sealed value -> the public value at the same frequency rank."""
    return dict(zip(ranked(counts), ranked(public), strict=False))


def expected_alignment_share(public: Mapping[str, float], with_value: int, total: int, draws: int = 5,
                             seed: int = 0) -> float:
    """The intruder's own estimate of the share of ``total`` records a frequency alignment
    re-identifies, if the ``with_value`` sealed records were drawn from the public list's
    population: ``draws`` samples of that size are ranked and aligned with the public list,
    and the records whose drawn value is the value aligned with it are counted (a fixed seed,
    so the figure is deterministic). Exact for the commonest values, a coin toss inside a
    block of near-equal counts."""
    if not public or not with_value or not total:
        return 0.0
    values = ranked(public)
    shares = np.array([public[v] for v in values], dtype=float)
    rng = np.random.default_rng(seed)
    right = 0
    for _ in range(draws):
        drawn = rng.multinomial(with_value, shares / shares.sum())
        order = sorted(range(len(values)), key=lambda i: (-drawn[i], str(values[i])))
        right += sum(int(drawn[i]) for rank, i in enumerate(order) if i == rank and drawn[i] > 0)
    return right / draws / total


# --- co-occurrence -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cooccurrence:
    column: str
    clear: str
    records: int          # records with both a token and a clear value
    decoded: int          # records whose token is decoded (one-to-one with a clear value)
    tokens_decoded: int
    decoding: dict = field(default_factory=dict, repr=False, compare=False)  # token -> clear value

    @property
    def share(self) -> float:
        return self.decoded / self.records if self.records else 0.0


def cooccurrence(tokens: list, clear: list, column: str = "", clear_name: str = "",
                 purity: float = DECODE_PURITY) -> Cooccurrence:
    """Tokens decoded by one clear attribute: one-to-one (``purity`` both ways) with a value."""
    pairs: Counter = Counter()
    for token, value in zip(tokens, clear, strict=True):
        if token is None or value is None or token == "" or isinstance(token, list):
            continue
        pairs[token, value] += 1
    by_token: dict = defaultdict(Counter)
    by_value: dict = defaultdict(Counter)
    for (token, value), count in pairs.items():
        by_token[token][value] = count
        by_value[value][token] = count
    decoding = {}
    for token, values in by_token.items():
        value, count = min(values.items(), key=lambda item: (-item[1], str(item[0])))
        if count < purity * sum(values.values()):
            continue
        tokens_of_value = by_value[value]
        if count >= purity * sum(tokens_of_value.values()) and sum(values.values()) >= DECODE_MIN_RECORDS:
            decoding[token] = value
    decoded = sum(sum(by_token[t].values()) for t in decoding)
    return Cooccurrence(column, clear_name, sum(pairs.values()), decoded, len(decoding), decoding)


# --- the similarity-graph attack ----------------------------------------------------------------

#: Similarity thresholds at which node degrees are counted.
GRAPH_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def _dice_matrix(sets: np.ndarray) -> np.ndarray:
    """Dice similarity of every pair of rows of a 0/1 matrix."""
    inter = sets @ sets.T
    sizes = np.diag(inter).copy()
    sums = sizes[:, None] + sizes[None, :]
    return np.where(sums > 0, 2 * inter / np.maximum(sums, 1), 0.0)


def _bit_matrix(filters: list[bytes]) -> np.ndarray:
    raw = np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(len(filters), -1)
    return np.unpackbits(raw, axis=1).astype(np.float32)


def _gram_matrix(names: list[str]) -> np.ndarray:
    grams = [set(bigrams(name)) for name in names]
    index = {g: i for i, g in enumerate(sorted(set().union(*grams)))} if grams else {}
    matrix = np.zeros((len(names), max(len(index), 1)), dtype=np.float32)
    for row, items in enumerate(grams):
        for gram in items:
            matrix[row, index[gram]] = 1.0
    return matrix


def _features(similarity: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """Per node: log frequency rank share, degree at each threshold (share of nodes) and the
    five strongest neighbour similarities."""
    nodes = similarity.shape[0]
    off = similarity - np.eye(nodes) * 2  # drop self-similarity
    degrees = [(off >= t).sum(axis=1) / max(nodes - 1, 1) for t in GRAPH_THRESHOLDS]
    strongest = -np.sort(-off, axis=1)[:, :5] if nodes > 1 else np.zeros((nodes, 5))
    strongest = np.clip(strongest, 0, 1)
    if strongest.shape[1] < 5:
        strongest = np.pad(strongest, ((0, 0), (0, 5 - strongest.shape[1])))
    share = np.log(np.maximum(frequency, 1e-9) / max(frequency.sum(), 1e-9))
    return np.column_stack([share / 4, *degrees, strongest])


def _quantile_map(values: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map ``values`` from the distribution of ``source`` onto that of ``target`` by quantile."""
    quantiles = np.linspace(0, 1, 201)
    return np.interp(values, np.quantile(source, quantiles), np.quantile(target, quantiles))


def _greedy_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column), each used once, taken in order of increasing cost."""
    order = np.argsort(cost, axis=None, kind="stable")
    used_rows, used_cols, pairs = set(), set(), []
    limit = min(cost.shape)
    for flat in order:
        row, col = divmod(int(flat), cost.shape[1])
        if row in used_rows or col in used_cols:
            continue
        pairs.append((row, col))
        used_rows.add(row)
        used_cols.add(col)
        if len(pairs) == limit:
            break
    return pairs


@dataclass(frozen=True)
class GraphAlignment:
    guesses: dict          # filter -> public name
    margins: dict          # filter -> (second-best cost - best cost) / best cost: the intruder's confidence


def graph_alignment(counts: Mapping[bytes, int], public: Mapping[str, float], nodes: int = 300,
                    public_nodes: int = 400) -> GraphAlignment:
    """The similarity-graph matching attack on one Bloom filter column (module docstring)."""
    filters = ranked(counts)[:nodes]
    names = ranked(public)[:public_nodes]
    if len(filters) < 2 or len(names) < 2:
        return GraphAlignment({}, {})
    sealed_similarity = _dice_matrix(_bit_matrix(filters))
    public_similarity = _dice_matrix(_gram_matrix(names))
    upper_sealed = sealed_similarity[np.triu_indices(len(filters), 1)]
    upper_public = public_similarity[np.triu_indices(len(names), 1)]
    calibrated = _quantile_map(sealed_similarity, upper_sealed, upper_public)
    np.fill_diagonal(calibrated, 1.0)
    sealed_features = _features(calibrated, np.array([counts[f] for f in filters], dtype=float))
    public_features = _features(public_similarity, np.array([public[n] for n in names], dtype=float))
    scale = np.maximum(np.vstack([sealed_features, public_features]).std(axis=0), 1e-6)
    cost = np.abs(sealed_features[:, None, :] - public_features[None, :, :]) / scale
    cost = cost.sum(axis=2)
    guesses, margins = {}, {}
    for row, col in _greedy_assignment(cost):
        guesses[filters[row]] = names[col]
        ordered = np.sort(cost[row])
        best = float(ordered[0])
        second = float(ordered[1]) if ordered.size > 1 else best
        chosen = float(cost[row, col])
        # confidence only where the assignment chose this filter's own best match
        margins[filters[row]] = (second - best) / max(best, 1e-9) if chosen <= best else 0.0
    return GraphAlignment(guesses, margins)


def graph_confident_share(alignment: GraphAlignment, counts: Mapping, total: int, margin: float = 0.5
                          ) -> tuple[float, list]:
    """The intruder's estimate: records in filters whose assigned name is the filter's clear
    best match by at least ``margin`` (relative cost), over ``total`` records."""
    trusted = [f for f in alignment.guesses if alignment.margins.get(f, 0.0) >= margin]
    records = sum(counts[f] for f in trusted)
    return (records / total if total else 0.0), trusted
