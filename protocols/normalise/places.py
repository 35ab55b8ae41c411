"""Places: UK postcodes and free-text addresses.

Postcodes are validated for *shape* only (outward code ``A9``, ``A99``, ``AA9``, ``AA99``,
``A9A`` or ``AA9A``, inward code ``9AA``, plus ``GIR 0AA``); the finer letter rules of
Royal Mail are not applied, so an unusual but well-formed postcode is never rejected.

Addresses are parsed heuristically into flat, number, street and locality. The aim is
that one address written in the layouts found in council systems gives one ``key``:

* ``Flat 2, 14 Mill Lane, Loughborough``, ``2/14 Mill Ln Loughborough``,
  ``14 Mill Lane Flat 2``, ``Apartment 2, 14 Mill Lane``, ``2, 14 Mill Lane`` and
  ``FLAT 2 14 MILL LANE LE11 3AB`` all have the key ``FLAT 2 14 MILL LANE``.
* Flat designators (``FLAT``, ``FLT``, ``APARTMENT``, ``APT``, ``UNIT``, ``ROOM``...) become
  ``FLAT``; ``Ground Floor Flat`` gives the flat ``GROUND FLOOR``.
* ``14a`` and ``14 A`` give the number ``14A``; ``14-16`` is kept as a range.
* Street abbreviations are expanded (``RD`` -> ``ROAD``, ``LN`` -> ``LANE``...). ``ST`` is
  ``SAINT`` when it starts a name (``St Marys Road``) and ``STREET`` otherwise.
* The street ends at the first street-type word that is not the street's first word
  (``MILL LANE``, ``PARK ROAD``, ``THE GREEN``), or at a main type right after it
  (``PARK VIEW ROAD``); only compass words may follow it in the same comma-separated
  part (``HIGH STREET NORTH``). What follows is the locality.
  Without commas and without a street-type word the whole rest is taken as the street.
* With a house number, words before it (a building name) are dropped; without one, the
  house or building name is kept in ``number`` (``Rose Cottage, Main Street`` -> number
  ``ROSE COTTAGE``, street ``MAIN STREET``; ``Flat 2 Rose Court Mill Lane`` -> flat ``2``,
  number ``ROSE COURT``, street ``MILL LANE``).
* A postcode included in the text is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .names import fold

__all__ = ["Address", "Postcode", "normalise_address", "parse_postcode"]

# --- postcodes ----------------------------------------------------------------------

_OUTWARD = r"(?:[A-Z][0-9]{1,2}|[A-Z]{2}[0-9]{1,2}|[A-Z][0-9][A-Z]|[A-Z]{2}[0-9][A-Z])"
_INWARD = r"[0-9][A-Z]{2}"
_POSTCODE = re.compile(rf"(?P<outward>{_OUTWARD}|GIR)(?P<inward>{_INWARD})")
_AREA = re.compile(r"[A-Z]+")


@dataclass(frozen=True, slots=True)
class Postcode:
    """A valid UK postcode and its coarser levels: ``LE11 3AB``, ``LE11 3``, ``LE11``, ``LE``."""

    unit: str
    sector: str
    district: str
    area: str


def parse_postcode(text: str | None) -> Postcode | None:
    """Parse a postcode in any case and spacing (``le113ab``, `` LE11  3ab ``).

    Returns ``None`` for ``None`` or blank text. Raises ``ValueError`` (without the
    value) when the text, with all whitespace removed, is not a UK postcode shape.
    ``GIR 0AA`` is accepted (area and district ``GIR``).
    """
    if text is None:
        return None
    compact = "".join(text.split())
    if not compact:
        return None
    found = _POSTCODE.fullmatch(compact.upper()) if compact.isascii() else None
    if found is None:
        raise ValueError("not a UK postcode (expected a shape such as A9 9AA or AA9A 9AA)")
    outward, inward = found["outward"], found["inward"]
    if outward == "GIR" and inward != "0AA":
        raise ValueError("not a UK postcode (expected a shape such as A9 9AA or AA9A 9AA)")
    area = _AREA.match(outward)
    return Postcode(
        unit=f"{outward} {inward}",
        sector=f"{outward} {inward[0]}",
        district=outward,
        area=area.group() if area else outward,
    )


# --- addresses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address. Every field is normalised upper-case text and may be ``""``.

    ``number`` holds the house number (``14``, ``14A``, ``14-16``) or, when there is
    none, the house name. ``locality`` (the town and anything after the street) is not
    part of :attr:`key`.
    """

    flat: str = ""
    number: str = ""
    street: str = ""
    locality: str = ""

    @property
    def building(self) -> str:
        """Number (or house name) and street: ``"14 MILL LANE"``."""
        return " ".join(p for p in (self.number, self.street) if p)

    @property
    def key(self) -> str:
        """Flat, number and street: ``"FLAT 2 14 MILL LANE"``."""
        flat = f"FLAT {self.flat}" if self.flat else ""
        return " ".join(p for p in (flat, self.number, self.street) if p)


_EMPTY = Address()

_FLAT_WORDS = frozenset(
    {"FLAT", "FLT", "FLATS", "APARTMENT", "APPARTMENT", "APT", "APPT", "UNIT", "ROOM", "RM"}
)
# fmt: off
_FLOOR_WORDS = {
    "GROUND": "GROUND", "GRD": "GROUND", "FIRST": "FIRST", "1ST": "FIRST",
    "SECOND": "SECOND", "2ND": "SECOND", "THIRD": "THIRD", "3RD": "THIRD",
    "FOURTH": "FOURTH", "4TH": "FOURTH", "TOP": "TOP", "BASEMENT": "BASEMENT",
    "LOWER": "LOWER", "UPPER": "UPPER",
}
_ABBREVIATIONS = {
    "RD": "ROAD", "STR": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "AVEN": "AVENUE",
    "LN": "LANE", "CL": "CLOSE", "CLS": "CLOSE", "CRES": "CRESCENT", "CRESC": "CRESCENT",
    "CRS": "CRESCENT", "DR": "DRIVE", "DRV": "DRIVE", "GDNS": "GARDENS", "GDN": "GARDENS",
    "PL": "PLACE", "SQ": "SQUARE", "TER": "TERRACE", "TERR": "TERRACE", "TCE": "TERRACE",
    "CT": "COURT", "CRT": "COURT", "GRN": "GREEN", "GR": "GROVE", "GRO": "GROVE",
    "GRV": "GROVE", "PK": "PARK", "WY": "WAY", "WK": "WALK", "WLK": "WALK", "PDE": "PARADE",
    "BLVD": "BOULEVARD", "MWS": "MEWS", "HTS": "HEIGHTS", "MT": "MOUNT", "GT": "GREAT",
    "UPR": "UPPER", "LWR": "LOWER", "NTH": "NORTH", "STH": "SOUTH", "HSE": "HOUSE",
    "CTR": "CENTRE", "EST": "ESTATE",
}
_STREET_TYPES = frozenset(
    {
        "ROAD", "STREET", "AVENUE", "LANE", "CLOSE", "CRESCENT", "DRIVE", "GARDENS", "PLACE",
        "SQUARE", "TERRACE", "COURT", "GREEN", "GROVE", "PARK", "WAY", "WALK", "HILL", "RISE",
        "VIEW", "MEWS", "ROW", "GATE", "PARADE", "BOULEVARD", "CROFT", "CHASE", "GLADE",
        "HEIGHTS", "VALE", "APPROACH", "YARD", "WHARF", "CIRCUS", "PASSAGE",
    }
)
#: Street types that end a street even after another type (PARK VIEW ROAD) and after
#: which ST starts a name (MILL LANE ST IVES); weaker types (PARK, GREEN, VIEW...) also
#: begin names, as in PARK STREET.
_MAIN_TYPES = frozenset(
    {"ROAD", "STREET", "AVENUE", "LANE", "CLOSE", "CRESCENT", "DRIVE", "GARDENS", "TERRACE", "WAY"}
)
_COMPASS = frozenset({"NORTH", "SOUTH", "EAST", "WEST"})
_HOUSE_WORDS = frozenset(
    {
        "COTTAGE", "HOUSE", "FARM", "FARMHOUSE", "LODGE", "HALL", "BARN", "VILLA", "BUNGALOW",
        "MANOR", "RECTORY", "VICARAGE", "GRANGE", "COTTAGES",
    }
)
_NUMBER_WORDS = frozenset({"NO", "NUMBER"})
# fmt: on

_SEGMENT_BREAKS = str.maketrans({";": ",", "\n": ",", "\r": ",", "|": ",", "\uff0c": ","})
_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d", "-")
)
_TOKEN = re.compile(r"[A-Z0-9]+|[,/-]")
_NUMBER = re.compile(r"[0-9]+[A-Z]?(?:-[0-9]+[A-Z]?)?")
_SIMPLE_NUMBER = re.compile(r"[0-9]+[A-Z]?")
_DIGITS = re.compile(r"[0-9]+")
_FLAT_ID = re.compile(r"[0-9]+[A-Z]{0,2}|[A-Z][0-9]{0,3}|[0-9]+-[0-9]+")
_POSTCODE_TOKEN = re.compile(rf"{_OUTWARD}{_INWARD}|GIR0AA")
_OUTWARD_TOKEN = re.compile(rf"{_OUTWARD}|GIR")
_INWARD_TOKEN = re.compile(_INWARD)
_SEPARATORS = frozenset({",", "/", "-"})


def _is_number(token: str) -> bool:
    return _NUMBER.fullmatch(token) is not None


def _is_word(token: str) -> bool:
    return token not in _SEPARATORS and not _is_number(token)


def _tokenise(text: str) -> list[str]:
    folded = fold(text.translate(_DASHES)).translate(_SEGMENT_BREAKS)
    return _TOKEN.findall(folded)


def _drop_postcodes(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if _POSTCODE_TOKEN.fullmatch(token):
            i += 1
            continue
        if (
            i + 1 < len(tokens)
            and _OUTWARD_TOKEN.fullmatch(token)
            and _INWARD_TOKEN.fullmatch(tokens[i + 1])
        ):
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _merge_numbers(tokens: list[str]) -> list[str]:
    """Join ``14 A`` -> ``14A`` and ``14 - 16`` -> ``14-16``; ``2/14`` -> ``FLAT 2 14``.

    ``NO`` before a number is dropped; other hyphens and slashes separate words.
    """
    joined: list[str] = []
    for token in tokens:
        if len(token) == 1 and token.isalpha() and joined and _DIGITS.fullmatch(joined[-1]):
            joined[-1] += token
        else:
            joined.append(token)
    out: list[str] = []
    i, n = 0, len(joined)
    while i < n:
        token = joined[i]
        nxt = joined[i + 1] if i + 1 < n else ""
        after = joined[i + 2] if i + 2 < n else ""
        if nxt == "-" and _SIMPLE_NUMBER.fullmatch(token) and _SIMPLE_NUMBER.fullmatch(after):
            out.append(f"{token}-{after}")
            i += 3
        elif nxt == "/" and _FLAT_ID.fullmatch(token) and _SIMPLE_NUMBER.fullmatch(after):
            if not out or out[-1] not in _FLAT_WORDS:
                out.append("FLAT")
            out.extend((token, after))
            i += 3
        elif token in ("/", "-") or (token in _NUMBER_WORDS and _SIMPLE_NUMBER.fullmatch(nxt)):
            i += 1  # a separator, or "NO" in "NO 14"
        else:
            out.append(token)
            i += 1
    return out


def _segments(tokens: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token == ",":
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _expand(words: list[str]) -> list[str]:
    """Expand abbreviations within one segment; ``ST`` by position (SAINT or STREET)."""
    out: list[str] = []
    for i, word in enumerate(words):
        if word == "ST":
            prev = out[-1] if out else ""
            nxt = words[i + 1] if i + 1 < len(words) else ""
            starts_name = (
                not prev or _is_number(prev) or prev in _HOUSE_WORDS or prev in _MAIN_TYPES
            )
            follows = (
                bool(nxt)
                and _is_word(nxt)
                and nxt != "ST"
                and nxt not in _STREET_TYPES
                and nxt not in _ABBREVIATIONS
            )
            out.append("SAINT" if starts_name and follows else "STREET")
        else:
            out.append(_ABBREVIATIONS.get(word, word))
    return out


def _take_flat(segments: list[list[str]]) -> tuple[str, list[list[str]]]:
    """Find and remove the first flat designator that has an identifier."""
    for s, words in enumerate(segments):
        for i, word in enumerate(words):
            if word not in _FLAT_WORDS:
                continue
            floor = _floor_before(words, i)
            if floor:  # "GROUND FLOOR FLAT": a following number is the house number
                start = i - len(floor.split())
                rest = words[:start] + words[i + 1 :]
                return floor, segments[:s] + [rest] + segments[s + 1 :]
            j = i + 1
            if j + 1 < len(words) and words[j] in _FLOOR_WORDS and words[j + 1] == "FLOOR":
                rest = words[:i] + words[j + 2 :]  # "FLAT 1ST FLOOR"
                floor = f"{_FLOOR_WORDS[words[j]]} FLOOR"
                return floor, segments[:s] + [rest] + segments[s + 1 :]
            if j < len(words) and words[j] in _NUMBER_WORDS:
                j += 1
            if j < len(words) and _FLAT_ID.fullmatch(words[j]):
                rest = words[:i] + words[j + 1 :]
                return words[j], segments[:s] + [rest] + segments[s + 1 :]
    return "", segments


def _floor_before(words: list[str], i: int) -> str:
    """``GROUND FLOOR`` for ``... GROUND FLOOR FLAT``, ``BASEMENT`` for ``BASEMENT FLAT``."""
    if i >= 2 and words[i - 1] == "FLOOR" and words[i - 2] in _FLOOR_WORDS:
        return f"{_FLOOR_WORDS[words[i - 2]]} FLOOR"
    if i >= 1 and words[i - 1] in ("BASEMENT", "TOP", "GROUND"):
        return words[i - 1]
    return ""


def _street_end(words: list[str]) -> int | None:
    """Index of the street-type word that ends the street, or ``None``.

    The first street-type word after the first word, extended over directly following
    main types: ``PARK VIEW ROAD`` ends at ``ROAD``, ``MILL LANE PARK GATE`` at ``LANE``.
    """
    for i in range(1, len(words)):
        if words[i] in _STREET_TYPES:
            while i + 1 < len(words) and words[i + 1] in _MAIN_TYPES:
                i += 1
            return i
    return None


def _split_street(words: list[str], later: list[list[str]]) -> tuple[list[str], list[str]]:
    """Split a segment starting with the street into street words and locality words."""
    end = _street_end(words)
    if end is None:
        street, rest = words, []
    else:
        street, rest = words[: end + 1], words[end + 1 :]
        if rest and all(w in _COMPASS for w in rest):
            street, rest = words, []
    locality = rest + [w for segment in later for w in segment]
    return street, locality


def _find_number(segments: list[list[str]]) -> tuple[int, int] | None:
    """Position (segment, index) of the house number, by order of preference."""
    positions = [
        (s, i) for s, words in enumerate(segments) for i, w in enumerate(words) if _is_number(w)
    ]
    for s, i in positions:  # a number followed by a word: "14 MILL LANE"
        if i + 1 < len(segments[s]) and _is_word(segments[s][i + 1]):
            return s, i
    for s, i in positions:  # a number alone before a street part: "14, MILL LANE"
        if i == 0 and len(segments[s]) == 1 and s + 1 < len(segments):
            return s, i
    return positions[-1] if positions else None


def normalise_address(text: str | None) -> Address:
    """Parse a free-text address into flat, number, street and locality.

    Total: any text gives an :class:`Address` (all fields ``""`` for blank text). See the
    module notes for the layouts understood and the rules applied.
    """
    if not text:
        return _EMPTY
    tokens = _merge_numbers(_drop_postcodes(_tokenise(text)))
    segments = [_expand(words) for words in _segments(tokens)]
    flat, segments = _take_flat(segments)
    segments = [words for words in segments if words]
    if not segments:
        return Address(flat=flat)
    found = _find_number(segments)
    if found is None:
        return _without_number(flat, segments)
    s, i = found
    words = segments[s]
    number = words[i]
    if not flat and i == 1 and _SIMPLE_NUMBER.fullmatch(words[0]):
        flat = words[0]  # "2 14 MILL LANE"
    elif (
        not flat
        and i == 0
        and s > 0
        and len(segments[s - 1]) == 1
        and _SIMPLE_NUMBER.fullmatch(segments[s - 1][0])
    ):
        flat = segments[s - 1][0]  # "2, 14 MILL LANE"
    if i + 1 < len(words):
        street, locality = _split_street(words[i + 1 :], segments[s + 1 :])
    elif i == 0 and s + 1 < len(segments):
        street, locality = _split_street(segments[s + 1], segments[s + 2 :])
    else:  # "MILL LANE 14": the street came first
        street, locality = _split_street(words[:i], segments[s + 1 :])
    return Address(flat, number, " ".join(street), " ".join(locality))


def _without_number(flat: str, segments: list[list[str]]) -> Address:
    """No house number: a street, or a house or building name followed by a street.

    The name may end in a street-type word (``ROSE COURT, MILL LANE``): the first street
    is taken as a name when another street follows it, in the same part or the next.
    """
    first, later = segments[0], segments[1:]
    end = _street_end(first)
    rest = first[end + 1 :] if end is not None else first
    if end is not None and rest and _street_end(rest) is not None:
        name, (street, locality) = first[: end + 1], _split_street(rest, later)
    elif (end is None or not rest) and later and _street_end(later[0]) is not None:
        name, (street, locality) = first, _split_street(later[0], later[1:])
    else:
        street, locality = _split_street(first, later)
        cut = _house_name_end(street)
        name, street = street[:cut], street[cut:]
    return Address(flat, " ".join(name), " ".join(street), " ".join(locality))


def _house_name_end(street: list[str]) -> int:
    """In ``ROSE COTTAGE MAIN STREET`` the house name ends after ``COTTAGE``: return 2."""
    end = _street_end(street)
    limit = (end if end is not None else len(street)) - 1
    for i in range(min(limit, len(street) - 1) - 1, -1, -1):
        if street[i] in _HOUSE_WORDS:
            return i + 1
    return 0
