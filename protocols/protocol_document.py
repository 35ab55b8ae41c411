"""The data-sharing protocol as a reviewable document, and a lint of the agreements.

``render_protocol`` turns the very objects the engine enforces (an ``AgreementSet`` and the
sealed-extract contract) into the document a DPIA and a data-sharing agreement need,
following the ICO Data Sharing Code: purpose, parties and roles, legal gateways, data items
with the reason each is needed and how it is protected, special-category and criminal-offence
data, retention, security, re-identification control and residual risks. It ends with a
fingerprint of the agreements so a signed-off copy can be matched to what ran. The output
is deterministic (no timestamps) and, in HTML, self-contained.

``check_protocol`` lints the agreements and returns every problem with its file, key and fix.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from familylink.core.contract import (
    ALWAYS_SHARED,
    PERSONAL_COLUMNS,
    SEALED_BLOOM_COLUMNS,
    SEALED_CLEAR_COLUMNS,
    SEALED_COLUMNS,
    SEALED_TOKEN_COLUMNS,
    SEALED_TOKEN_LIST_COLUMNS,
)
from familylink.core.errors import Problem
from protocols.agreements import (
    PARTNERSHIP_FILE,
    SHAREABLE_FIELDS,
    Agreement,
    AgreementSet,
    Partnership,
    collect_agreements,
)
from protocols.assessment import assessment_blocks
from protocols.encoding import BLOOM_KEY_LABELS


@dataclass(frozen=True)
class Protection:
    """How one raw identity field leaves the provider: the sealed columns made from it."""

    tokens: tuple[str, ...] = ()
    bloom: str | None = None
    derived: tuple[str, ...] = ()
    clear: tuple[str, ...] = ()
    note: str = ""


#: Raw identity field -> the sealed columns made from it (see protocols/encoding.py).
FIELD_PROTECTION: dict[str, Protection] = {
    "given_name": Protection(("tok_given_first", "tok_given_canon", "tok_given_nysiis",
                              "tok_given_metaphone", "tok_given_forms", "tok_name_parts"), bloom="bf_given"),
    "middle_names": Protection(("tok_middle", "tok_name_parts")),
    "family_name": Protection(("tok_family", "tok_family_nysiis", "tok_family_metaphone", "tok_family_parts",
                               "tok_name_parts"), bloom="bf_family"),
    "date_of_birth": Protection(("tok_dob", "tok_dob_swapped"),
                                derived=("age_months", "age_years", "age_at_event"),
                                note="no token of a part of the date (the clear age would decode a year or "
                                     "month token, frequency a day token)"),
    "sex": Protection(clear=("sex",), note="minimised to M, F or U; read only by the linkage's sex comparison "
                                           "(identification does not use it)"),
    "address": Protection(("tok_address", "tok_building", "tok_locality_parts"), bloom="bf_address"),
    "postcode": Protection(("tok_postcode", "tok_postcode_sector"), derived=("postcode_district",)),
    "uprn": Protection(("tok_uprn",)),
    "household_ref": Protection(("tok_household",), note="scoped by source, so references never meet across sources"),
    "nhs_number": Protection(("tok_nhs",)),
    "ni_number": Protection(("tok_ni",)),
    "upn": Protection(("tok_upn",)),
}
#: Attributes derived on the provider's machine and sent in clear instead of the raw value.
DERIVED_ATTRIBUTES = {
    "age_months": "age in whole months at the extract date, only where the agreement declares the need: with the "
                  "extract date it gives the year and month of birth",
    "age_years": "age in whole years at the extract date, for identification's ages at the reference date and the "
                 "linkage's same-cohort blocking",
    "age_at_event": "age in whole years at each event date",
    "postcode_district": "postcode district only (the outward code, e.g. LE11): identification reads it for "
                         "each family's locality on the candidate list, the linkage for its 'same district' levels",
}
#: Clear columns every sealed extract carries whatever the agreement (the contract minimum).
CONTRACT_CLEAR = {
    "source": "the source's name",
    "record_id": "the provider's own record reference; meaningless outside the provider",
    "row_number": "the row in the provider's raw file, so the provider can trace a problem",
    **{c: "the event itself, as agreed in the source's indicator vocabulary"
       for c in ALWAYS_SHARED if c != "record_id"},
}
_BLOOM_FIELDS = {"bf_given": "given_name", "bf_family": "family_name", "bf_address": "address"}
#: Sources whose data is special-category by nature, and why (the lint's domain knowledge).
SPECIAL_CATEGORY_SOURCES = {
    "health": "data concerning health",
    "social_care": "social care records reveal data concerning health",
}
CRIMINAL_OFFENCE_SOURCES = {
    "police": "offences, arrests and ASB interventions",
    "probation": "convictions, custody and sentences",
}
_PLACEHOLDERS = {"", "tbc", "tbd", "todo", "n/a", "na", "none", "?", "-", "needed", "required", "reason"}
_SECTIONS = (
    "Purpose", "Parties and roles", "Legal gateways and lawful bases", "Data items",
    "Special category data", "Criminal offence data", "Retention", "Security measures",
    "Re-identification control", "Residual risks", "Fingerprints",
)

Block = tuple  # ("h1"|"h2"|"h3"|"p", text) | ("ul", [text]) | ("table", headers, rows)


def key_label(column: str) -> str:
    """The HKDF info label of the per-field key a sealed column is made with."""
    if column in _BLOOM_FIELDS:
        return BLOOM_KEY_LABELS[column]
    return {"tok_dob_swapped": "token/tok_dob", "tok_name_parts": "token/name_part"}.get(column, f"token/{column}")


def protection_of(field: str, partnership: Partnership, agreement: Agreement | None = None) -> str:
    """How ``field`` is protected, in one line, from the contract and the encoding settings
    (and the source's agreement: ``age_months`` only where it declares ages in months)."""
    spec = FIELD_PROTECTION[field]
    if agreement is not None and agreement.age_precision != "months":
        spec = replace(spec, derived=tuple(c for c in spec.derived if c != "age_months"))
    parts = []
    if spec.tokens:
        parts.append("keyed HMAC token: " + ", ".join(f"`{c}`" for c in spec.tokens))
    if spec.bloom:
        bloom = partnership.encoding.bloom[_BLOOM_FIELDS[spec.bloom]]
        parts.append(f"keyed Bloom filter: `{spec.bloom}` ({bloom.bits} bits, {bloom.hashes} hashes)")
    if spec.derived:
        parts.append("derived attribute: " + ", ".join(f"`{c}` ({DERIVED_ATTRIBUTES[c]})" for c in spec.derived))
    if spec.clear:
        parts.append("clear: " + ", ".join(f"`{c}`" for c in spec.clear))
    if spec.note:
        parts.append(spec.note)
    return "; ".join(parts)


def _sealed_meaning(column: str) -> str:
    for table in (SEALED_TOKEN_COLUMNS, SEALED_TOKEN_LIST_COLUMNS, SEALED_BLOOM_COLUMNS, DERIVED_ATTRIBUTES):
        if column in table:
            return table[column]
    return ""


# --- the document ------------------------------------------------------------------------


def protocol_blocks(agreements: AgreementSet) -> list[Block]:
    """The protocol as headings, paragraphs, lists and tables (rendered to md or html)."""
    p, sources = agreements.partnership, agreements.sources
    docs = [agreements[s] for s in sources]
    blocks: list[Block] = [
        ("h1", f"Data sharing protocol: {p.name}"),
        ("p", f"Partnership document version {p.version}; protocol fingerprint `{agreements.fingerprint}`. "
              "Generated from the sharing agreements the engine enforces; any change to them changes "
              "the fingerprint."),
    ]

    def section(number: int) -> None:
        blocks.append(("h2", f"{number + 1}. {_SECTIONS[number]}"))

    section(0)
    blocks.append(("p", p.purpose))
    blocks.append(("table", ["Source", "What this source's data is used for"], [[a.source, a.purpose] for a in docs]))

    section(1)
    blocks.append(("p", "Each provider is the controller of the data it shares. The hub's role is set in "
                        f"{PARTNERSHIP_FILE}: {_role(p.hub.role)}."))
    rows = [["hub", p.hub.organisation, _role(p.hub.role), p.hub.contact]]
    rows += [[a.source, a.owner.organisation, _role(a.owner.role), a.owner.contact] for a in docs]
    blocks.append(("table", ["Party", "Organisation", "Role", "Contact"], rows))
    for party, label in [(p.hub, "hub"), *((a.owner, a.source) for a in docs)]:
        if party.responsibilities:
            blocks.append(("h3", f"Responsibilities: {label} ({party.organisation})"))
            blocks.append(("ul", list(party.responsibilities)))

    section(2)
    for a in docs:
        basis = a.lawful_basis
        blocks.append(("h3", f"{a.source} ({a.owner.organisation})"))
        items = [f"Legal gateway: {g}" for g in basis.legal_gateways]
        items.append(f"UK GDPR Art 6 basis: {basis.article_6}")
        items.append(f"Art 9 condition (special category): {basis.article_9 or 'not applicable'}")
        items.append(f"Art 10 / DPA 2018 s10 condition (criminal offence): {basis.article_10 or 'not applicable'}")
        blocks.append(("ul", items))

    section(3)
    blocks.append(("p", "Names, dates of birth, addresses, postcodes, UPRNs, household references and national "
                        "identifiers never leave the provider in clear: they are sealed on the provider's machine "
                        f"into keyed HMAC-SHA256 tokens ({p.encoding.token_bytes} bytes) and keyed Bloom filters, "
                        "each with its own key derived by HKDF-SHA256 from the partnership secret, or into "
                        "derived attributes."))
    blocks.append(("p", "Every source also sends these clear columns (the contract minimum):"))
    blocks.append(("table", ["Column", "What it is"], [[f"`{c}`", d] for c, d in CONTRACT_CLEAR.items()]))
    for a in docs:
        blocks.append(("h3", f"Data items: {a.source}"))
        blocks.append(("table", ["Field", "Why it is needed", "How it is protected"],
                       [[f"`{f}`", reason, protection_of(f, p, a)] for f, reason in a.fields.items()]))
        precision = "the first of the month" if a.date_precision == "month" else "the day"
        blocks.append(("p", f"Event dates are shared to {precision}. {_ages(a)} Indicators ({len(a.indicators)}), "
                            "with the detail codes allowed in clear:"))
        allowed = a.allowed_details
        blocks.append(("table", ["Indicator", "Meaning", "Detail codes"],
                       [[f"`{code}`", spec.meaning, _details(allowed.get(code))] for code, spec in a.indicators.items()]))
    blocks.append(("h3", "Sealed columns and their keys"))
    blocks.append(("table", ["Sealed column", "What it encodes", "Protection", "Key (HKDF info label)"],
                   _sealed_rows(p)))

    section(4)
    blocks.append(("table", ["Source", "Special category", "Which data", "Art 9 condition"],
                   [[a.source, _yes(a.special_category), a.special_category_data or "-",
                     a.lawful_basis.article_9 or "-"] for a in docs]))
    section(5)
    blocks.append(("table", ["Source", "Criminal offence data", "Which data", "Art 10 / DPA 2018 s10 condition"],
                   [[a.source, _yes(a.criminal_offence_data), a.criminal_offence_detail or "-",
                     a.lawful_basis.article_10 or "-"] for a in docs]))
    section(6)
    blocks.append(("table", ["Source", "Months", "Action"],
                   [[a.source, str(a.retention.months), a.retention.action] for a in docs]))
    section(7)
    blocks.append(("ul", list(p.security_measures)))
    blooms = ", ".join(f"{f} {s.bits} bits / {s.hashes} hashes" for f, s in p.encoding.bloom.items())
    blocks.append(("p", f"Encoding version {p.encoding.version} (fingerprint `{p.encoding_fingerprint}`): "
                        f"tokens of {p.encoding.token_bytes} bytes; Bloom filters: {blooms}."))
    section(8)
    blocks.append(("ul", [
        "Only the provider can resolve a record_id back to a person: the record_id is the provider's own "
        "reference and the lookup stays in the provider's systems.",
        "The hub never holds names, dates of birth, addresses, postcodes or national identifiers; it holds "
        "tokens, Bloom filters and derived attributes, and never the partnership secret that made them.",
        *p.re_identification,
    ]))
    section(9)
    blocks.append(("ul", list(p.residual_risks) or ["None recorded."]))
    section(10)
    blocks.append(("p", f"Protocol fingerprint: `{agreements.fingerprint}`. Each sealed extract's manifest "
                        "records its agreement fingerprint and the encoding fingerprint below."))
    blocks.append(("table", ["Document", "Version", "Fingerprint"],
                   [[PARTNERSHIP_FILE + " (encoding)", p.version, f"`{p.encoding_fingerprint}`"]]
                   + [[agreements.path_of(a.source).name, a.version, f"`{a.fingerprint}`"] for a in docs]))
    return blocks


def _sealed_rows(p: Partnership) -> list[list[str]]:
    rows = []
    for column in SEALED_COLUMNS:
        if column in SEALED_BLOOM_COLUMNS:
            bloom = p.encoding.bloom[_BLOOM_FIELDS[column]]
            rows.append([f"`{column}`", _sealed_meaning(column), f"keyed Bloom filter, {bloom.bits} bits, "
                         f"{bloom.hashes} hashes", f"`{key_label(column)}`"])
        elif column in SEALED_TOKEN_COLUMNS or column in SEALED_TOKEN_LIST_COLUMNS:
            rows.append([f"`{column}`", _sealed_meaning(column), "keyed HMAC token", f"`{key_label(column)}`"])
        elif column in DERIVED_ATTRIBUTES:
            rows.append([f"`{column}`", _sealed_meaning(column), "derived attribute, clear", "-"])
        else:
            rows.append([f"`{column}`", CONTRACT_CLEAR.get(column, "sex, minimised to M, F or U; read only by the linkage's sex comparison"), "clear", "-"])
    return rows


def _ages(agreement: Agreement) -> str:
    """What the agreement sends of a person's age in clear, and why (issue 13)."""
    if agreement.age_precision == "months":
        return ("Ages travel in whole months at the extract date (`age_months`, which with the extract date gives "
                f"the year and month of birth) because: {agreement.age_months_reason.strip()}")
    return ("Ages travel in whole years at the extract date (`age_years`) and at each event (`age_at_event`): "
            "the framework's age rules are in whole years, and at a reference date other than the extract date "
            "a person whose birthday falls in between is given the age most people of that age have reached.")


def _role(role: str) -> str:
    return role.replace("_", " ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _details(allowed: frozenset[str] | None) -> str:
    if allowed is None:
        return "any (free text)"
    return ", ".join(sorted(allowed)) or "none"


def render_protocol(agreements: AgreementSet, fmt: Literal["md", "html"] = "md",
                    assessment: dict | None = None) -> str:
    """The protocol document for ``agreements`` as Markdown or self-contained HTML; with
    ``assessment`` (``protocols.assessment.assess_extracts``), a last section with its figures."""
    blocks = protocol_blocks(agreements)
    if assessment is not None:
        blocks.append(("h2", f"{len(_SECTIONS) + 1}. Privacy assessment of the sealed extracts"))
        blocks += assessment_blocks(assessment)
    if fmt == "md":
        return _markdown(blocks)
    if fmt == "html":
        return _html(blocks)
    raise ValueError(f"unknown protocol format {fmt!r} (md or html)")


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown(blocks: list[Block]) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(" ".join(block[1].split()))
        elif kind == "ul":
            out.append("\n".join(f"- {' '.join(item.split())}" for item in block[1]))
        else:
            headers, rows = block[1], block[2]
            lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(" ".join(text.split())))


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.4}"
          "table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #999;padding:.3em .5em;"
          "vertical-align:top;text-align:left}th{background:#eee}code{font-size:.9em}")


def _html(blocks: list[Block]) -> str:
    title = html.escape(blocks[0][1])
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           f"<title>{title}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            out.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        else:
            head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# --- the lint ----------------------------------------------------------------------------

_GENERIC = re.compile(r"Field required|should have at least 1|Input should be a valid")
#: Where a load problem is -> (what it means for governance, when pydantic's words are generic; the fix).
_LOAD_FIXES = (
    (r": fields\.(\w+)$", "{0} is shared without a stated reason", "state why the field is needed, or stop sharing it"),
    (r": retention", "retention is missing", "add retention: {{months: N, action: ...}} saying when the hub deletes "
     "the extracts"),
    (r": lawful_basis\.legal_gateways", "no legal gateway is named",
     "name the statute that permits the sharing, e.g. Digital Economy Act 2017 s35"),
    (r": lawful_basis\.article_9", "", "name the Art 9 condition, e.g. Art 9(2)(g) with DPA 2018 Sch 1 Part 2 para 6 "
     "or 18"),
    (r": lawful_basis\.article_10", "", "name the condition, e.g. DPA 2018 s10(5) with Sch 1 Part 2 paras 6 and 18"),
    (r": lawful_basis\.article_6", "no UK GDPR Art 6 basis is named", "e.g. UK GDPR Art 6(1)(e)"),
    (r": owner", "", "each provider is a controller: owner.role: controller"),
    (r": hub", "", "set hub.role to processor or joint_controller"),
)


def _with_fix(problem: Problem) -> Problem:
    for pattern, what, fix in _LOAD_FIXES:
        match = re.search(pattern, problem.where)
        if match:
            if what and _GENERIC.search(problem.what):
                problem = replace(problem, what=what.format(*match.groups()))
            return replace(problem, fix=problem.fix or fix.format())
    return problem if problem.fix else replace(problem, fix="correct the document as described")


def check_protocol(agreements: AgreementSet | str | Path) -> list[Problem]:
    """Every governance problem of the agreements (a loaded set, or a folder read leniently).

    Given a folder, documents that fail to load are reported as they are and the rest are
    linted, so one pass shows everything to fix.
    """
    if isinstance(agreements, AgreementSet):
        directory, partnership, docs, problems = (agreements.directory, agreements.partnership,
                                                  agreements.agreements, [])
    else:
        directory = Path(agreements)
        partnership, docs, loaded = collect_agreements(directory)
        problems = [_with_fix(problem) for problem in loaded]
    problems += contract_problems()
    if partnership is not None:
        problems += _partnership_problems(directory / PARTNERSHIP_FILE, partnership)
    for source in sorted(docs):
        problems += _agreement_problems(directory / f"{source}.yaml", docs[source])
    return problems


def contract_problems() -> list[Problem]:
    """The sealed-extract contract must send no clear text beyond the minimum, and be describable."""
    where = "familylink/core/contract.py"
    problems = []
    minimum = set(CONTRACT_CLEAR) | set(DERIVED_ATTRIBUTES) | {"sex"}
    for column in SEALED_CLEAR_COLUMNS:
        if column in PERSONAL_COLUMNS or column not in minimum:
            problems.append(Problem(f"{where}: SEALED_CLEAR_COLUMNS.{column}",
                                    "a clear-text column beyond the contract minimum",
                                    "seal it as a keyed token or Bloom filter, or derive a coarser attribute"))
    explained = {c for spec in FIELD_PROTECTION.values() for c in (*spec.tokens, *spec.derived, *spec.clear)}
    explained |= set(_BLOOM_FIELDS) | set(CONTRACT_CLEAR)
    for column in SEALED_COLUMNS:
        if column not in explained:
            problems.append(Problem(f"{where}: {column}", "a sealed column the protocol cannot describe",
                                    "add it to FIELD_PROTECTION in protocols/protocol_document.py"))
    for field in SHAREABLE_FIELDS:
        spec = FIELD_PROTECTION.get(field)
        if spec is None:
            problems.append(Problem(f"{where}: IDENTITY_COLUMNS.{field}", "no protection is described for this field",
                                    "add it to FIELD_PROTECTION in protocols/protocol_document.py"))
        elif field in PERSONAL_COLUMNS and spec.clear:
            problems.append(Problem(f"{where}: IDENTITY_COLUMNS.{field}", "a personal identifier would travel in clear",
                                    "seal it as a keyed token or Bloom filter"))
    return problems


def _weak(text: str | None) -> bool:
    text = (text or "").strip()
    return text.lower().rstrip(".") in _PLACEHOLDERS or len(text.split()) < 3


def _partnership_problems(path: Path, p: Partnership) -> list[Problem]:
    problems = []
    if _weak(p.purpose):
        problems.append(Problem(f"{path}: purpose", "the partnership's purpose is not stated",
                                "say what the sharing is for, in a sentence or two"))
    if p.hub.role == "joint_controller" and not p.hub.responsibilities:
        problems.append(Problem(f"{path}: hub.responsibilities", "joint controllers need an Art 26 arrangement",
                                "list who answers for what under hub.responsibilities"))
    if not p.re_identification:
        problems.append(Problem(f"{path}: re_identification", "no re-identification control is described",
                                "say who can resolve a record_id to a person, and how"))
    if not p.residual_risks:
        problems.append(Problem(f"{path}: residual_risks", "no residual risks are recorded",
                                "record the risks that remain and how they are limited"))
    return problems


def _agreement_problems(path: Path, a: Agreement) -> list[Problem]:
    problems: list[Problem] = []

    def add(key: str, what: str, fix: str) -> None:
        problems.append(Problem(f"{path}: {key}", what, fix))

    if _weak(a.purpose):
        add("purpose", "the source's purpose is not stated", "say what this source's data is used for")
    for field, reason in a.fields.items():
        if _weak(reason):
            add(f"fields.{field}", f"{field} is shared without a stated reason",
                "state why the field is needed, or stop sharing it")
    basis = a.lawful_basis
    if "6(1)" not in basis.article_6:
        add("lawful_basis.article_6", "does not name a UK GDPR Art 6(1) basis", "e.g. UK GDPR Art 6(1)(e)")
    if not basis.legal_gateways:
        add("lawful_basis.legal_gateways", "no legal gateway is named",
            "name the statute that permits the sharing, e.g. Digital Economy Act 2017 s35")
    why = SPECIAL_CATEGORY_SOURCES.get(a.source)
    if why and not a.special_category:
        add("special_category", f"{a.source} data is special-category data ({why}) but special_category is false",
            "set special_category: true and give lawful_basis.article_9 and special_category_data")
    if a.special_category or why:
        if not basis.article_9:
            add("lawful_basis.article_9", "special-category data without an Art 9 condition",
                "e.g. Art 9(2)(g) with DPA 2018 Sch 1 Part 2 para 6 (statutory purposes) or 18 (safeguarding)")
        elif "9(2)(g)" in basis.article_9 and "Sch 1" not in basis.article_9:
            add("lawful_basis.article_9", "Art 9(2)(g) needs a DPA 2018 Sch 1 Part 2 condition",
                "name the paragraph, e.g. DPA 2018 Sch 1 Part 2 para 6 or 18")
        if not a.special_category_data:
            add("special_category_data", "the special-category data is not described", "say which data it is")
    why = CRIMINAL_OFFENCE_SOURCES.get(a.source)
    if why and not a.criminal_offence_data:
        add("criminal_offence_data", f"{a.source} data is criminal-offence data ({why}) but criminal_offence_data "
            "is false", "set criminal_offence_data: true and give lawful_basis.article_10 and criminal_offence_detail")
    if a.criminal_offence_data or why:
        if not basis.article_10:
            add("lawful_basis.article_10", "criminal-offence data without its Art 10 / DPA 2018 s10 condition",
                "e.g. DPA 2018 s10(5) with Sch 1 Part 2 paras 6 and 18")
        elif "Sch 1" not in basis.article_10:
            add("lawful_basis.article_10", "Art 10 processing needs a DPA 2018 Sch 1 condition",
                "name it, e.g. DPA 2018 s10(5) with Sch 1 Part 2 para 6")
        if not a.criminal_offence_detail:
            add("criminal_offence_detail", "the criminal-offence data is not described", "say which data it is")
    if a.retention is None or _weak(a.retention.action):
        add("retention", "retention is missing", "add retention: {months: N, action: ...}")
    allowed = a.allowed_details
    for code in a.indicators:
        if code not in allowed:
            add(f"vocabulary.details.{code}", "detail travels in clear and accepts any text (clear text beyond "
                "the contract minimum)", "list the allowed detail codes ([] allows none)")
    return problems
