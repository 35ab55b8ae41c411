"""Self-calibration of a trained person model from its own match probabilities (no truth).

Splink's unsupervised training leaves three things to the user: the prior (the probability
that two random records match), the clustering threshold, and what to make of patterns
that Fellegi-Sunter's independence assumption gets wrong. Every training run settles them
from the data, and records how, in ``model.json``:

- **Pattern levels.** Two records with one date of birth at one address, a family name
  shared and clearly different given names are twins in a county and a replaced given name
  in data without twins; one name at one address with dates far apart is a parent and
  child, or a wrong date. Each pattern is a comparison level
  (``matching.comparisons.pattern_level``) that EM does not train. The run estimates the
  share of its pairs that match: from the pairs that both carry an NHS, NI or UPN of one kind
  where enough do (equal: one person), otherwise as E / T, the matches expected to show the
  pattern over the pairs that do (``_calibrate_pattern``). A pattern pair scores at that
  share, moved only by the comparisons outside the pattern's context (``NON_CONTEXT``).
- **Household correction.** People of one household share family name and address far more
  often than the two chances multiplied; the factor is measured from exact pair counts before
  EM (``household_correction``) and taken back out by a level of its own.
- **Prior.** The fixed point of "expected matches / all pairs": the probability that makes
  the sum of the scored pairs' match probabilities, plus the matches no blocking rule
  reached (``BlockingCaptures``: two kinds of rule as two captures), equal to the number of
  matches it implies.
- **u without the matches among random pairs** (``UCorrection``): Splink's u is agreement
  among random pairs, which hold matches at the rate of the prior; each sampled level's u
  becomes (sampled u - prior x m) / (1 - prior), iterated with the prior.
- **Threshold.** The match probability above which links are kept: the one that maximises
  the expected F1 of the links (expected true links over links kept and over all expected
  matches), or the lowest whose expected precision meets ``clustering.precision_target``.

The same probabilities give the run's estimate of its own accuracy once persons are
formed (``estimate_accuracy``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np

from familylink.core.tables import LINKAGE_RECORDS
from matching.blocking_capture import any_rule_sql, blocking_missed, split_by_date
from matching.comparisons import (
    CONTEXT_COLUMNS,
    FAMILY_ALIKE,
    PARENT_CHILD_LEVEL,
    SAME_DOB,
    SAME_NAME,
    SAME_PLACE,
    SHARED_PART,
    TWIN_LEVEL,
)

#: the prior's search interval, as log2 odds, and the width at which the search stops
_PRIOR_BOUNDS = (-60.0, 10.0)
_PRIOR_TOLERANCE = 1e-9
#: a pattern level's weight is kept within +-_WEIGHT_BOUND (log2 Bayes factor)
_WEIGHT_BOUND = 40.0
_ROUNDS = 4
#: a sampled level's u is lowered at most this many bits by the matches among random pairs
MAX_U_SHIFT = 8.0
#: a pattern level whose share of matches is this close to the threshold is reported for review
ON_THRESHOLD = 0.02


@dataclass
class PatternLevel:
    """What the run learnt about one pattern level."""

    comparison: str
    label: str
    pairs: int  # scored pairs showing the pattern (T); household: pairs sharing family name and address
    #: expected matches sharing the pattern's context, field agreeing; household: pairs of
    #: different people sharing family name and address
    context_matches: float
    differ_m: float  # EM's m of "the field clearly differs"
    expected_matches: float  # E
    #: household: the log2 Bayes factor set on the level; pattern: log2 odds of its pairs (E/T)
    weight: float
    #: how it was estimated ("identifiers", "expected matches" or "exact pair counts")
    method: str = ""
    #: household: how many times more often different people share family name and address
    #: than the two chances multiplied (rho)
    dependence: float = float("nan")

    @property
    def share_matching(self) -> float:
        return min(1.0, self.expected_matches / self.pairs) if self.pairs else float("nan")


@dataclass
class Calibration:
    prior: float
    prior_method: str
    threshold: float
    threshold_method: str
    expected_matches: float
    records: int
    patterns: list[PatternLevel] = field(default_factory=list)
    #: the sampled levels' u without the matches among the random pairs
    u_corrected: list[dict] = field(default_factory=list)

    def on_threshold(self) -> list[dict]:
        """Pattern levels whose pairs score within ``ON_THRESHOLD`` of the threshold: whether
        they link is decided by small differences (a key, a training seed), so their links
        are the ones to review (FEBRL4: 57 true pairs of one person at p 0.50)."""
        return [{"label": p.label, "pairs": p.pairs, "share_matching": round(p.share_matching, 4)}
                for p in self.patterns
                if p.method != "exact pair counts" and p.pairs and abs(p.share_matching - self.threshold) < ON_THRESHOLD]

    def as_document(self) -> dict:
        return {
            "probability_two_random_records_match": self.prior,
            "prior_method": self.prior_method,
            "threshold_match_probability": self.threshold,
            "threshold_method": self.threshold_method,
            "levels_on_threshold": self.on_threshold(),
            "expected_matching_pairs": round(self.expected_matches, 2),
            "patterns": [{k: _round(v) if isinstance(v, float) else v
                          for k, v in {**asdict(p), "share_matching": p.share_matching}.items()}
                         for p in self.patterns],
            "u_without_matches": self.u_corrected,
        }


def _round(value: float, digits: int = 6) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def logit2(p: float) -> float:
    return math.log2(p) - math.log2(1.0 - p)


def probability(weights: np.ndarray) -> np.ndarray:
    """Match probability from log2 odds (overflow-safe)."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weights, -1000, 1000)))


def at_level_sql(comparison: str, weight: float, prefixed: bool = False) -> str:
    """SQL: the pair is at the calibrated level of ``comparison`` whose weight is ``weight``.

    Splink's scored pairs carry each comparison's weight (``mw_<comparison>``), not its level;
    a calibrated level's starting weight is a value no other level of its comparison shares
    (checked by the model). ``prefixed``: ``comparison`` is already the column.
    """
    column = comparison if prefixed else f"mw_{comparison}"
    return f"coalesce(abs({column} - ({weight!r})) < 1e-6, false)"


def _sides(condition: str) -> str:
    """Splink's ``x_l``/``x_r`` condition written over the aliases ``l.x``/``r.x`` of the
    linkage records (context copies ``ctx_*`` read their original columns)."""
    def side(m: re.Match) -> str:
        return f"{m.group(2)}.{CONTEXT_COLUMNS.get(m.group(1), m.group(1))}"

    return re.sub(r"\b(\w+)_(l|r)\b", side, condition)


@dataclass
class LevelSpec:
    """A pattern level the run calibrates (twins, parent and child)."""

    comparison: str
    label: str
    weight: float  # its weight in the scored pairs (log2 Bayes factor)
    differ_m: float = float("nan")  # EM's m of "the field clearly differs"
    #: EM's m and u of "recorded sexes differ" (the sex comparison): the sex bound on the share
    sex_differ_m: float = float("nan")
    sex_differ_u: float = float("nan")
    #: pairs of different people sharing a family name and an address (the household correction's
    #: exact count), or NaN
    household_pairs: float = float("nan")


_CONTEXTS = {"given_name": f"{_sides(SAME_DOB)} AND {_sides(SAME_PLACE)} AND ({_sides(FAMILY_ALIKE)} OR "
                           f"{_sides(SHARED_PART)})",
             "date_of_birth": f"{_sides(SAME_NAME)} AND {_sides(SAME_PLACE)}"}


_IDENTIFIERS = ("tok_nhs", "tok_ni", "tok_upn")
_ID_COMPARABLE = " OR ".join(f"(l.{c} IS NOT NULL AND r.{c} IS NOT NULL)" for c in _IDENTIFIERS)
_ID_EQUAL = " OR ".join(f"l.{c} = r.{c}" for c in _IDENTIFIERS)
_SEX_KNOWN = "(l.sex IN ('M', 'F') AND r.sex IN ('M', 'F'))"
#: pattern pairs with both sexes recorded needed before their sexes bound the share
MIN_SEXED_PAIRS = 10
#: of the pairs of different people sharing a family name and an address, the most that are
#: twins, or a parent and child of one given name (generous: about 1 in 65 births in England
#: are twins, and a few per cent of sons carry their father's name; the 20k synthetic county
#: has 117 twin-level and 224 parent-child pairs for 13,427 household pairs, 0.9% and 1.7%, so
#: a county would need three times its twins or its same-named sons before the floor binds;
#: 0.02 gave FEBRL the same figures, 0.05 keeps that margin)
MAX_PATTERN_PAIRS_PER_HOUSEHOLD_PAIR = 0.05
#: a pattern's share is read from its pairs that both carry an NHS, NI or UPN of one kind
#: (equal: one person; different: two) when at least this many do
MIN_IDENTIFIED_PAIRS = 10


def scored_pairs_sql(pairs: str, levels: list[LevelSpec], rules: list[str] | None = None,
                     weighed: list[str] | None = None) -> str:
    """The columns calibration needs from Splink's scored pairs: weight, the comparisons
    outside the patterns' contexts, identifiers, for each pattern level whether the pair
    is at it and whether it shares its context, and which kinds of blocking ``rules`` (needing
    one date of birth, or not) reach it."""
    dated, dateless = split_by_date(list(rules or []))
    captures = []
    if dated and dateless:
        captures = [f"({any_rule_sql(dated)}) AS caught_dated", f"({any_rule_sql(dateless)}) AS caught_dateless",
                    "l.tok_dob IS NOT NULL AND r.tok_dob IS NOT NULL AS both_dated"]
    columns = [*captures, *(f"p.mw_{c}" for c in weighed or []), "p.match_weight",
               f"{NON_CONTEXT_SQL.replace('mw_', 'p.mw_')} AS non_context",
               f"coalesce({_ID_COMPARABLE}, false) AS id_comparable", f"coalesce({_ID_EQUAL}, false) AS id_equal",
               f"coalesce({_SEX_KNOWN}, false) AS sex_known", f"coalesce({_SEX_KNOWN} AND l.sex <> r.sex, false) AS sex_differs"]
    for i, level in enumerate(levels):
        columns.append(f"{at_level_sql('p.mw_' + level.comparison, level.weight, prefixed=True)} AS level_{i}")
        columns.append(f"coalesce({_CONTEXTS[level.comparison]}, false) AS context_{i}")
    return f"""SELECT {', '.join(columns)}
               FROM {pairs} p JOIN {LINKAGE_RECORDS} l ON l.unique_id = p.unique_id_l
               JOIN {LINKAGE_RECORDS} r ON r.unique_id = p.unique_id_r
               ORDER BY p.unique_id_l, p.unique_id_r"""


#: comparisons that say nothing about a pattern's context (the pattern levels read names,
#: date of birth and place): a pattern pair's match probability is its level's share E/T,
#: moved by these alone
NON_CONTEXT = ("national_id", "sex", "middle_names")
NON_CONTEXT_SQL = " + ".join(f"coalesce(mw_{c}, 0)" for c in NON_CONTEXT)


def pairs_sharing(con: duckdb.DuckDBPyConnection, columns: list[str] | tuple[str, ...]) -> int:
    """Exact count of linkage-record pairs equal (and known) on every one of ``columns``, from
    group sizes: no pair is enumerated. Integer arithmetic, so the count is the same every run."""
    known = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    return int(con.execute(f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n "
                           f"FROM {LINKAGE_RECORDS} WHERE {known} GROUP BY {', '.join(columns)})").fetchone()[0])


def calibrate(con: duckdb.DuckDBPyConnection, pairs: str, *, records: int, start_prior: float,
              prior: float | str, threshold: float | str, precision_target: float | None,
              levels: list[LevelSpec], rules: list[str] | None = None,
              sampled: list[SampledLevel] | None = None) -> Calibration:
    """Calibrate from Splink's scored pairs ``pairs`` (every blocked pair, scored with the
    prior ``start_prior`` and the pattern levels at their starting weights): each pattern
    level's share, the u of the ``sampled`` levels, the prior, then the threshold."""
    sampled = list(sampled or [])
    data = con.execute(scored_pairs_sql(pairs, levels, rules, sorted({x.comparison for x in sampled}))).fetchnumpy()
    captures = BlockingCaptures.of(data)
    correction = UCorrection(sampled, data)
    raw = np.asarray(data["match_weight"], dtype=np.float64) - logit2(start_prior)  # without prior
    base = raw
    non_context = np.asarray(data["non_context"], dtype=np.float64)
    identified = (np.asarray(data["id_comparable"], dtype=bool), np.asarray(data["id_equal"], dtype=bool))
    sexed = (np.asarray(data["sex_known"], dtype=bool), np.asarray(data["sex_differs"], dtype=bool))
    at = [np.asarray(data[f"level_{i}"], dtype=bool) for i in range(len(levels))]
    context = [np.asarray(data[f"context_{i}"], dtype=bool) for i in range(len(levels))]
    shares = [0.0] * len(levels)
    patterned = np.logical_or.reduce(at) if at else np.zeros(base.size, dtype=bool)
    total_pairs = records * (records - 1) / 2
    odds = logit2(start_prior) if prior == "auto" else logit2(float(prior))

    def final_weights(odds: float) -> np.ndarray:
        final = base + odds
        for i in range(len(levels)):
            final = np.where(at[i], logit2(min(max(shares[i], 1e-12), 0.999)) + non_context, final)
        return final

    learnt: list[PatternLevel] = []
    for _ in range(_ROUNDS):
        base = raw + correction.pair_shift(1.0 / (1.0 + 2.0 ** -odds))
        if prior == "auto":
            odds = _prior_fixed_point(base, total_pairs, final_weights, patterned, captures)
        final = final_weights(odds)
        learnt = [_calibrate_pattern(level, at[i], context[i], final, identified, sexed)
                  for i, level in enumerate(levels)]
        shares = [x.share_matching if x.pairs else 0.0 for x in learnt]
    u_prior = 1.0 / (1.0 + 2.0 ** -odds)
    base = raw + correction.pair_shift(u_prior)
    if prior == "auto":
        odds = _prior_fixed_point(base, total_pairs, final_weights, patterned, captures)
    p = probability(final_weights(odds))
    chosen, method = _threshold(p, threshold, precision_target, captures.matches(p))
    prior_value = 1.0 / (1.0 + 2.0 ** -odds)
    return Calibration(prior_value, "auto: fixed point of the expected matches" if prior == "auto" else "fixed",
                       chosen, method, float(p.sum()), records, learnt, correction.corrected(u_prior))


def household_correction(con: duckdb.DuckDBPyConnection, records: int, comparison: str, label: str) -> PatternLevel:
    """Weight -log2(rho): rho = how much more often two different people share a family name
    and an address than the product of the two chances says.

    Different people are counted without the model (no feedback, so it is set before EM):
    pairs sharing family name and address line whose first given names and dates of birth
    both differ (inclusion and exclusion over exact group counts). The independent
    expectation is the same share of all pairs: P(family) x P(address) x P(given name and
    date differ).
    """
    f, a, g, d = "tok_family", "tok_address", "tok_given_first", "tok_dob"
    total_pairs = records * (records - 1) / 2
    fa = pairs_sharing(con, (f, a))
    different = fa - pairs_sharing(con, (f, a, g)) - pairs_sharing(con, (f, a, d)) + pairs_sharing(con, (f, a, g, d))
    family, address = pairs_sharing(con, (f,)), pairs_sharing(con, (a,))
    if total_pairs <= 0 or family <= 0 or address <= 0:
        return PatternLevel(comparison, label, fa, float(different), float("nan"), float("nan"), 0.0,
                            "exact pair counts", 1.0)
    both_differ = max((1 - pairs_sharing(con, (g,)) / total_pairs) * (1 - pairs_sharing(con, (d,)) / total_pairs), 1e-9)
    expected = family / total_pairs * address / total_pairs * both_differ * total_pairs
    rho = different / expected if expected > 0 else 1.0
    weight = -min(max(math.log2(rho), 0.0), _WEIGHT_BOUND) if rho > 0 else 0.0
    return PatternLevel(comparison, label, fa, float(different), float("nan"), float("nan"), round(weight, 6),
                        "exact pair counts", round(float(rho), 4))


def _calibrate_pattern(level: LevelSpec, in_level: np.ndarray, in_context: np.ndarray,
                       weights: np.ndarray, identified: tuple[np.ndarray, np.ndarray],
                       sexed: tuple[np.ndarray, np.ndarray] | None = None) -> PatternLevel:
    """The share of a pattern level's pairs that match.

    Where at least ``MIN_IDENTIFIED_PAIRS`` of its pairs both carry an NHS, NI or UPN of one
    kind, the share is read from them: identifiers are check-digit validated, so equal means
    one person and different means two (twins, a parent and child). Otherwise it is E / T:

    T: the pairs at the level. E: the matches expected to show the pattern, the expected
    matches sharing its context with the field agreeing, times the odds that a match's field
    clearly differs (r). EM's m of the field's else level leaves the pattern's own pairs
    out, so r counts them back in at the share being estimated: r = (m x (B - qT) + qT) / B
    over all B expected matches, solved for its fixed point q (it is unique: q's slope is
    the share of matches in the context, below 1).

    E / T rests on EM's m of a rare level, and where most matches share the context it is
    amplified (a county of 5,000 without identifiers: EM's m of 0.005 made the twin level 0.999
    matches, 0 of 16 true). Where ``MIN_SEXED_PAIRS`` of its pairs have both sexes recorded,
    their sexes bound it from above: a match's sexes differ at EM's m, a non-match's at most at
    u (two random records; twins are no likelier to differ), so the share of matches is at most
    (u - d) / (u - m) for d the share whose sexes differ (:func:`sex_bound`). Where the
    non-matches are of one sex (a father and son of one name) the bound is near 1 and E / T
    stands.
    """
    pairs = int(in_level.sum())
    p = probability(weights)
    agreeing = in_context & ~in_level
    context_matches = float(p[agreeing].sum())
    matches = float(p.sum())
    differ = min(max(level.differ_m, 1e-9), 0.5)
    if pairs == 0 or matches <= 0:
        return PatternLevel(level.comparison, level.label, pairs, round(context_matches, 4), level.differ_m, 0.0,
                            float("nan"))
    comparable = in_level & identified[0]
    if int(comparable.sum()) >= MIN_IDENTIFIED_PAIRS:
        share = (float((comparable & identified[1]).sum()) + 0.5) / (float(comparable.sum()) + 1.0)
        share = min(max(share, 1e-6), 0.999)
        return PatternLevel(level.comparison, level.label, pairs, round(context_matches, 4), level.differ_m,
                            round(share * pairs, 4), round(logit2(share), 6), "identifiers")
    share = 0.0
    for _ in range(200):
        r = min((differ * max(matches - share * pairs, 0.0) + share * pairs) / matches, 0.5)
        new = min(context_matches * r / (1.0 - r) / pairs, 0.999)
        if abs(new - share) < 1e-9:
            break
        share = new
    method = "expected matches"
    if not math.isnan(level.household_pairs):
        floor = min(1.0 - MAX_PATTERN_PAIRS_PER_HOUSEHOLD_PAIR * level.household_pairs / pairs, 0.999)
        if floor > share:
            share, method = floor, "expected matches, raised: too few households for this many"
    bound = sex_bound(in_level, sexed, level.sex_differ_m, level.sex_differ_u) if sexed is not None else None
    if bound is not None and bound < share:
        share, method = bound, "expected matches, bounded by recorded sex"
    expected = share * pairs
    return PatternLevel(level.comparison, level.label, pairs, round(context_matches, 4), level.differ_m,
                        round(expected, 4), round(logit2(max(share, 1e-12)), 6), method)


def sex_bound(in_level: np.ndarray, sexed: tuple[np.ndarray, np.ndarray], m: float, u: float) -> float | None:
    """The largest share of matches a pattern level's recorded sexes allow, or None (too few
    pairs with both sexes recorded, or no trained sex comparison): d = m s + q (1 - s) with q
    <= u gives s <= (u - d) / (u - m)."""
    known = in_level & sexed[0]
    n = int(known.sum())
    if n < MIN_SEXED_PAIRS or not (0.0 <= m < u <= 1.0):
        return None
    differ = float((known & sexed[1]).sum()) / n
    return min(max((u - differ) / (u - m), 1e-6), 0.999)


@dataclass(frozen=True)
class SampledLevel:
    """A comparison level whose u Splink estimated from random pairs of records."""

    comparison: str
    label: str
    weight: float  # log2(m / u), as the pairs were scored
    m: float
    u: float
    #: Splink weighs the level by each value's own frequency (against this u): its correction
    #: is added to the pairs' weight, not set on the model (see ``matching.model``)
    term_frequency: bool = False


def sampled_levels(comparisons) -> list[SampledLevel]:
    """The levels of Splink ``comparisons`` whose u was sampled from random pairs and whose m EM
    trained (a level no pair showed keeps its default m, and is left alone), which the
    calibration corrects: of the comparisons in the patterns' context, not a pattern or
    household level, and told apart from the comparison's other levels by their weight."""
    found = []
    for comparison in comparisons:
        if comparison.output_column_name in (*NON_CONTEXT, "household"):
            continue
        levels = [x for x in comparison.comparison_levels if not x.is_null_level]
        weights = {id(x): math.log2(x.m_probability / x.u_probability) for x in levels
                   if isinstance(x.m_probability, float) and isinstance(x.u_probability, float)
                   and x.m_probability > 0 and x.u_probability > 0}
        for level in levels:
            if (id(level) not in weights or level._trained_m_median is None or level._trained_u_median is None
                    or level.label_for_charts in (TWIN_LEVEL, PARENT_CHILD_LEVEL)
                    or level._fix_u_probability):
                continue
            weight = weights[id(level)]
            if sum(abs(weight - other) < 1e-6 for other in weights.values()) > 1:
                continue  # its pairs cannot be told from another level's
            found.append(SampledLevel(comparison.output_column_name, level.label_for_charts, weight,
                                      level.m_probability, level.u_probability,
                                      bool(level._has_tf_adjustments and level._tf_adjustment_weight)))
    return found


class UCorrection:
    """The u of levels estimated from random pairs, without the matches among those pairs.

    Splink counts how often two random records agree at a level and takes that as u, the
    chance for two different people. But random pairs hold matches too (a share equal to the
    prior): among all pairs, P(level) = prior x m + (1 - prior) x u, so
    u = (P(level) - prior x m) / (1 - prior). Where people have several records the matches
    are a large part of the agreeing pairs: of the pairs sharing a date of birth, 98% are one
    person on fake_1000, 95% on FEBRL3, 78% on FEBRL4 and 45% on the county (measured with
    truth), so the date's agreement was weighed 1-6 bits too low. The corrected u is never
    below 1/2^MAX_U_SHIFT of the sampled one. A term-frequency level (exact names) is moved by
    the same factor for every value. The calibrated pattern levels keep their u, as do the
    comparisons outside the patterns' context (identifiers, sex, middle names)."""

    def __init__(self, levels: list[SampledLevel], data: dict):
        self.levels = levels
        self.at: list[np.ndarray] = []
        for level in levels:
            column = np.asarray(data[f"mw_{level.comparison}"], dtype=np.float64)
            self.at.append(np.abs(column - level.weight) < 1e-6)

    def shifts(self, prior: float) -> list[float]:
        """Each level's change of weight (bits) at ``prior``."""
        out = []
        for level in self.levels:
            u = max((level.u - prior * level.m) / (1.0 - prior), level.u * 2.0 ** -MAX_U_SHIFT)
            out.append(math.log2(level.u / u))
        return out

    def pair_shift(self, prior: float) -> np.ndarray | float:
        if not self.levels:
            return 0.0
        shift = np.zeros(self.at[0].size)
        for at, bits in zip(self.at, self.shifts(prior), strict=True):
            shift[at] += bits
        return shift

    def corrected(self, prior: float) -> list[dict]:
        """Each level's corrected u (9 significant digits, as the model saves it), the shift in
        bits that u gives (so that this run's pairs and a reused model's agree), and the weight
        at which its pairs were scored (``level_weight``: they are found by it)."""
        out = []
        for level, bits in zip(self.levels, self.shifts(prior), strict=True):
            u = float(f"{level.u * 2.0 ** -bits:.9g}")
            out.append({"comparison": level.comparison, "label": level.label, "level_weight": level.weight,
                        "u_sampled": level.u, "u": u, "bits": math.log2(level.u / u) if bits else 0.0,
                        **({"term_frequency": True} if level.term_frequency else {})})
        return out


class BlockingCaptures:
    """Which kind of blocking rule reaches each scored pair: two independent captures of a
    match (rules needing one date of birth, and the others), so that the matches blocking
    reached neither way can be counted (``matching.blocking_capture``; ``matching.accuracy``
    does the same on the links)."""

    def __init__(self, dated: np.ndarray | None = None, dateless: np.ndarray | None = None,
                 both_dated: np.ndarray | None = None):
        #: per pair: 1 both records dated, 2 a dated rule reaches it, 4 a dateless rule does
        self.code = None if dated is None else (both_dated.astype(np.int8) | dated.astype(np.int8) << 1
                                                | dateless.astype(np.int8) << 2)

    @classmethod
    def of(cls, data: dict) -> BlockingCaptures:
        if "caught_dated" not in data:
            return cls()
        return cls(*(np.asarray(data[c], dtype=bool) for c in ("caught_dated", "caught_dateless", "both_dated")))

    def matches(self, p: np.ndarray) -> float:
        """Expected matches, blocked or not, given each scored pair's match probability ``p``:
        the sum of ``p`` where the two kinds of rule do not overlap enough to tell."""
        if self.code is None:
            return float(p.sum())
        by_code = np.bincount(self.code, weights=p, minlength=8)
        n_a, n_b, n_ab = by_code[[3, 7]].sum(), by_code[[5, 7]].sum(), by_code[7]
        undated = by_code[[0, 2, 4, 6]].sum()
        return float(by_code.sum()) + blocking_missed(float(n_a), float(n_b), float(n_ab), float(undated))


def _prior_fixed_point(base: np.ndarray, total_pairs: float, final_weights, patterned: np.ndarray,
                       captures: BlockingCaptures) -> float:
    """log2 odds L with matches(p(L)) = N * prior(L): the matches expected among the scored
    pairs, and those blocking missed (``captures``), equal the matches the prior implies over
    all N pairs (bisection: a unique crossing). Pattern pairs (their probability is their
    level's share) count at that probability."""
    if base.size == 0 or total_pairs <= 0:
        return _PRIOR_BOUNDS[0]
    fixed = probability(final_weights(0.0))

    def excess(odds: float) -> float:
        p = np.where(patterned, fixed, probability(base + odds))
        return captures.matches(p) - total_pairs / (1.0 + 2.0 ** -odds)

    low, high = _PRIOR_BOUNDS
    if excess(low) <= 0:
        return low
    while high - low > _PRIOR_TOLERANCE:
        middle = (low + high) / 2
        if excess(middle) > 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _threshold(p: np.ndarray, fixed: float | str, precision_target: float | None,
               matches: float) -> tuple[float, str]:
    if fixed != "auto":
        return float(fixed), "fixed"
    if p.size == 0:
        return 0.5, "no pairs scored: 0.5"
    order = np.sort(p)[::-1]
    true_links = np.cumsum(order)
    kept = np.arange(1, order.size + 1)
    if precision_target is not None:
        meets = np.nonzero(true_links / kept >= precision_target)[0]
        if meets.size == 0:
            return float(min(order[0], 1 - 1e-12)), f"precision target {precision_target}: not reachable"
        return math.floor(float(order[meets[-1]]) * 1e6) / 1e6, f"lowest with expected precision >= {precision_target}"
    f1 = 2 * true_links / (kept + matches)
    best = int(np.argmax(f1))
    # never below an even chance: a link kept must be more likely true than not; rounded down
    # (6 places) so that no pair sits within a rounding error of it
    return math.floor(max(float(order[best]), 0.5) * 1e6) / 1e6, "maximum expected F1"
