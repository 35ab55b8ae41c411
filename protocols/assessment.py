"""The privacy assessment of a folder of sealed extracts, computed at the hub.

``assess_extracts`` measures what a motivated intruder with the hub's view (every sealed
extract, no key) and a public frequency list could learn (``protocols.intruder``):

* k-anonymity of the clear quasi-identifiers: the share of records unique, in groups under
  5 and under 10, per source and overall, on the finest age in clear (the year and month of
  birth, the extract date less ``age_months``, where a source sends months; else the age in
  years at the extract date), sex and postcode district, and without the postcode district;
* the frequency alignment of every token and name Bloom filter column with the public list,
  as the intruder's own estimate of the records it would re-identify (no key at the hub, so
  no guess can be checked here: ``benchmarks/bench_privacy.py`` checks them with the key);
* the co-occurrence of every token column with every clear attribute (a token decoded when
  it is one-to-one with a clear value; the list columns hold the same values as their
  single-valued counterparts and are covered by them), and the date-of-birth tokens joined
  with the date the clear columns pin for a few records (``protocols.intruder.pinned_join``);
* the similarity-graph attack on the name Bloom filters (confident matches);
* per sealed column, what the intruder learns, in one sentence.

Counts from 1 to ``suppress_below - 1`` are written "<5" (as in the published outputs).
``write_assessment`` saves the JSON; ``assessment_blocks`` turns it into a section of the
protocol document (``protocols.protocol_document.render_protocol(..., assessment=...)``).
The default public list (``protocols/data/public_frequencies_synthetic.csv``) is derived
from a second, independently seeded synthetic county: it is labelled as such, and a real
assessment should pass published name frequencies with ``--public-names``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from familylink.core.contract import (
    SEALED_BLOOM_COLUMNS,
    SEALED_TOKEN_COLUMNS,
    SEALED_TOKEN_LIST_COLUMNS,
)
from familylink.core.errors import ConfigError, Problem
from protocols.intruder import (
    DERIVED_CLEAR,
    DOB_TOKEN_PLAINTEXT,
    PUBLIC_KIND_OF,
    HubView,
    cooccurrence,
    expected_alignment_share,
    graph_alignment,
    graph_confident_share,
    load_hub_view,
    pinned_join,
    read_public_list,
    value_counts,
)

ASSESSMENT_FORMAT = "familylink-privacy-assessment"
ASSESSMENT_VERSION = 1
DEFAULT_PUBLIC_LIST = Path(__file__).parent / "data" / "public_frequencies_synthetic.csv"
PUBLIC_LIST_LABEL = ("synthetic: value frequencies of a second, independently seeded synthetic county "
                     "(familylink synth, seed 4242, 20,000 people); not published national figures")
#: Quasi-identifier sets whose k-anonymity is reported.
QUASI_IDENTIFIERS = {
    "age in clear, sex, postcode district": ("birth_cohort", "sex", "postcode_district"),
    "age in clear, sex": ("birth_cohort", "sex"),
}
#: Clear attributes each token column is tested against (read or derived at the hub).
COOCCURRENCE_CLEAR = ("sex", "age_months", "age_years", "postcode_district", "source", *DERIVED_CLEAR)
#: The goal: no attack re-identifies more than this share of records.
GOAL = 0.01


def _count(value: int, suppress_below: int) -> int | str:
    return f"<{suppress_below}" if 0 < value < suppress_below else value


def k_anonymity(view: HubView, suppress_below: int = 5) -> list[dict]:
    """Per quasi-identifier set, per source and overall: records, share unique, in groups
    under 5 and under 10 (groups formed within the source, or across all sources)."""
    rows = []
    for label, columns in QUASI_IDENTIFIERS.items():
        scopes = [(source, [r for r in view.records if r["source"] == source]) for source in view.sources]
        scopes.append(("all sources", view.records))
        for scope, records in scopes:
            keys = [tuple(r.get(c) for c in columns) for r in records]
            sizes = Counter(keys)
            total = len(keys)

            def share(limit: int, keys=keys, sizes=sizes, total=total) -> float:
                return round(sum(1 for k in keys if sizes[k] < limit) / total, 4) if total else 0.0

            rows.append({"quasi_identifiers": label, "scope": scope, "records": _count(total, suppress_below),
                         "unique": share(2), "under_5": share(5), "under_10": share(10)})
    return rows


def _frequency_rows(view: HubView, public: dict[str, dict[str, float]], suppress_below: int) -> list[dict]:
    total = len(view.records)
    rows = []
    for column in [*SEALED_TOKEN_COLUMNS, *SEALED_TOKEN_LIST_COLUMNS, *SEALED_BLOOM_COLUMNS]:
        counts = value_counts(view.column(column))
        with_value = sum(1 for v in view.column(column) if v not in (None, "", []))
        largest = max(counts.values(), default=0)
        kind = PUBLIC_KIND_OF.get(column)
        row = {"column": column, "records_with_value": _count(with_value, suppress_below),
               "distinct_values": _count(len(counts), suppress_below),
               "largest_group_share": round(largest / total, 4) if total else 0.0,
               "public_list": kind if kind in public else None, "estimated_reidentified": None}
        if kind in public and counts:
            row["estimated_reidentified"] = round(expected_alignment_share(public[kind], with_value, total), 4)
        rows.append(row)
    return rows


def _cooccurrence_rows(view: HubView) -> list[dict]:
    rows = []
    for column in SEALED_TOKEN_COLUMNS:
        tokens = view.column(column)
        if not any(tokens):
            continue
        best = None
        for clear in COOCCURRENCE_CLEAR:
            result = cooccurrence(tokens, view.column(clear), column, clear)
            if best is None or result.share > best.share:
                best = result
            if result.share > 0:
                rows.append({"column": column, "clear": clear, "decoded": round(result.share, 4),
                             "tokens_decoded": result.tokens_decoded})
        if best is not None and best.share == 0:
            rows.append({"column": column, "clear": "(every clear attribute)", "decoded": 0.0, "tokens_decoded": 0})
    pinned = view.column("birth_date_pinned")
    for column, plaintext in DOB_TOKEN_PLAINTEXT.items():
        tokens = view.column(column)
        decoding = pinned_join(tokens, pinned, plaintext)
        decoded = sum(1 for t in tokens if t in decoding)
        rows.append({"column": column, "clear": "birth_date_pinned",
                     "decoded": round(decoded / len(tokens), 4) if tokens else 0.0,
                     "tokens_decoded": len(decoding)})
    return rows


def _graph_rows(view: HubView, public: dict[str, dict[str, float]]) -> list[dict]:
    total = len(view.records)
    rows = []
    for column in ("bf_given", "bf_family"):
        kind = PUBLIC_KIND_OF[column]
        counts = value_counts(view.column(column))
        if kind not in public or len(counts) < 2:
            continue
        alignment = graph_alignment(counts, public[kind])
        share, trusted = graph_confident_share(alignment, counts, total)
        rows.append({"column": column, "nodes": len(alignment.guesses), "confident_matches": len(trusted),
                     "estimated_reidentified": round(share, 4)})
    return rows


_CLEAR_MEANING = {
    "sex": "sex in clear (M, F or U)",
    "age_months": "age in months in clear, only from a source whose agreement declares months: with the "
                  "manifest's extract date, the year and month of birth",
    "age_years": "age in whole years in clear: with the manifest's extract date, the year of birth within two "
                 "(nothing beyond age_months where both are sealed)",
    "age_at_event": "age in years at each event in clear: with the event date, the year of birth within two",
    "postcode_district": "postcode district in clear (the outward code)",
    "event_date": "event dates in clear (to the day, or the month under month precision)",
}


def _column_findings(frequency: list[dict], cooccur: list[dict], graph: list[dict]) -> list[dict]:
    decoded: dict[str, tuple[float, str]] = {}
    for row in cooccur:
        if row["decoded"] > decoded.get(row["column"], (0.0, ""))[0]:
            decoded[row["column"]] = (row["decoded"], row["clear"])
    graphs = {row["column"]: row["estimated_reidentified"] for row in graph}
    findings = [{"column": c, "learns": text} for c, text in _CLEAR_MEANING.items()]
    for row in frequency:
        column = row["column"]
        parts = []
        share, clear = decoded.get(column, (0.0, ""))
        if share >= 0.5:
            parts.append(f"decoded by co-occurrence with {clear} for {share:.1%} of records: the token "
                         "protects nothing beyond that clear value")
        elif share > 0:
            parts.append(f"partly decoded by co-occurrence with {clear} ({share:.1%} of records)")
        estimate = row.get("estimated_reidentified")
        if estimate:
            parts.append(f"frequency alignment with the public list: an estimated {estimate:.1%} of records "
                         "re-identified (the commonest values)")
        if graphs.get(column):
            parts.append(f"similarity-graph attack: an estimated {graphs[column]:.1%} of records")
        if not parts:
            alike = "an equal or similar filter" if column in SEALED_BLOOM_COLUMNS else "a value"
            parts.append(f"records sharing {alike} are linkable (largest group of equal values "
                         f"{row['largest_group_share']:.1%} of records); nothing decoded")
        findings.append({"column": column, "learns": "; ".join(parts)})
    return findings


def assess_view(view: HubView, public: dict[str, dict[str, float]], public_label: str,
                suppress_below: int = 5) -> dict:
    """The assessment of an already loaded hub view (see the module docstring)."""
    frequency = _frequency_rows(view, public, suppress_below)
    cooccur = _cooccurrence_rows(view)
    graph = _graph_rows(view, public)
    worst = [(row["estimated_reidentified"], f"frequency alignment, {row['column']}") for row in frequency
             if row.get("estimated_reidentified")]
    worst += [(row["decoded"], f"co-occurrence, {row['column']} with {row['clear']}") for row in cooccur]
    worst += [(row["estimated_reidentified"], f"similarity graph, {row['column']}") for row in graph]
    above = sorted(((round(s, 4), what) for s, what in worst if s > GOAL), reverse=True)
    return {
        "format": ASSESSMENT_FORMAT,
        "version": ASSESSMENT_VERSION,
        "sources": view.sources,
        "records": {source: _count(sum(1 for r in view.records if r["source"] == source), suppress_below)
                    for source in view.sources} | {"all sources": _count(len(view.records), suppress_below)},
        "extract_dates": {s: d.isoformat() for s, d in sorted(view.extract_dates.items())},
        "key_fingerprints": sorted(view.key_fingerprints),
        "public_list": public_label,
        "suppress_below": suppress_below,
        "goal": GOAL,
        "k_anonymity": k_anonymity(view, suppress_below),
        "frequency": frequency,
        "cooccurrence": cooccur,
        "graph": graph,
        "columns": _column_findings(frequency, cooccur, graph),
        "above_goal": [{"share": s, "attack": what} for s, what in above],
    }


def assess_extracts(extracts_dir: str | Path, public_names: str | Path | None = None,
                    suppress_below: int = 5) -> dict:
    """The privacy assessment of the sealed extracts in ``extracts_dir`` (module docstring)."""
    path = Path(public_names) if public_names else DEFAULT_PUBLIC_LIST
    try:
        public = read_public_list(path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read the public frequency list",
                          [Problem(str(path), str(error), "give a CSV with the header kind,value,count")]) from None
    label = PUBLIC_LIST_LABEL if public_names is None else f"{path.name} (given with --public-names)"
    view = load_hub_view(extracts_dir)
    if not view.records:
        raise ConfigError(f"{extracts_dir}: no sealed records to assess")
    return assess_view(view, public, label, suppress_below)


def write_assessment(assessment: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(assessment, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_assessment(path: str | Path) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read the privacy assessment ({error})") from None
    if not isinstance(document, dict) or document.get("format") != ASSESSMENT_FORMAT:
        raise ConfigError(f"{path}: not a privacy assessment written by `familylink protocol assess`")
    return document


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def assessment_blocks(assessment: dict) -> list[tuple]:
    """The assessment as a section of the protocol document (headings, paragraphs, tables)."""
    blocks: list[tuple] = [
        ("p", "Measured at the hub on the sealed extracts of "
              + ", ".join(f"{s} ({d})" for s, d in assessment["extract_dates"].items())
              + f", with the hub's view only (no key) and a public frequency list: {assessment['public_list']}. "
              f"Counts under {assessment['suppress_below']} are shown as <{assessment['suppress_below']}. "
              f"The goal is that no attack re-identifies more than {assessment['goal']:.0%} of records."),
        ("h3", "Clear attributes: how many records they single out (k-anonymity)"),
        ("p", "The age in clear is the age in whole years at the extract date, or, for a source whose agreement "
              "declares the need for months, the year and month of birth (the clear age in months less the "
              "extract date). "
              "A record in a group under 5 shares its clear attributes with fewer than 4 others: someone who "
              "knows those facts about a person can narrow the person down to a handful of records."),
        ("table", ["Quasi-identifiers", "Scope", "Records", "Unique", "Group under 5", "Group under 10"],
         [[r["quasi_identifiers"], r["scope"], f"{r['records']:,}" if isinstance(r["records"], int)
           else r["records"], _pct(r["unique"]), _pct(r["under_5"]), _pct(r["under_10"])]
          for r in assessment["k_anonymity"]]),
        ("h3", "Attacks that exceed the goal"),
        ("ul", [f"{a['attack']}: {a['share']:.1%} of records" for a in assessment["above_goal"]]
         or ["None."]),
        ("h3", "Frequency alignment with the public list (intruder's own estimate)"),
        ("table", ["Column", "Public list", "Distinct values", "Largest group", "Estimated re-identified"],
         [[f"`{r['column']}`", r["public_list"] or "none", str(r["distinct_values"]),
           _pct(r["largest_group_share"]), _pct(r["estimated_reidentified"])]
          for r in assessment["frequency"]]),
        ("h3", "Tokens decoded by clear attributes (co-occurrence)"),
        ("table", ["Token column", "Clear attribute", "Records decoded", "Tokens decoded"],
         [[f"`{r['column']}`", r["clear"], _pct(r["decoded"]), str(r["tokens_decoded"])]
          for r in assessment["cooccurrence"] if r["decoded"] > 0] or [["-", "none", "-", "-"]]),
        ("h3", "Similarity-graph attack on the name Bloom filters"),
        ("table", ["Column", "Filters matched", "Confident matches", "Estimated re-identified"],
         [[f"`{r['column']}`", str(r["nodes"]), str(r["confident_matches"]), _pct(r["estimated_reidentified"])]
          for r in assessment["graph"]] or [["-", "-", "-", "-"]]),
        ("h3", "What an intruder at the hub learns, column by column"),
        ("table", ["Column", "What the intruder learns"],
         [[f"`{r['column']}`", r["learns"]] for r in assessment["columns"]]),
    ]
    return blocks
