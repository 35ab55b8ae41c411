"""Names: folding to plain upper-case ASCII, parts, nicknames, phonetic codes, bigrams.

Every function here is pure, deterministic and total: it accepts any Python string
(any Unicode, control characters, lone surrogates) and never raises. The bundled tables
live in ``protocols/data/`` and are validated the first time they are used.

Decisions worth knowing:

* Apostrophes and their look-alikes are removed *without* a space, every other
  punctuation or whitespace run becomes one space: ``O'Brien`` and ``OBrien`` give
  ``OBRIEN`` while ``O Brien`` gives the two parts ``O`` and ``BRIEN``.
* Letters outside A-Z that have no decomposition are mapped by a small table
  (``Ł`` -> ``L``, ``ß`` -> ``SS``, ``Æ`` -> ``AE``, ``Ɛ`` -> ``E`` ...). Letters of
  other scripts, combining marks and invisible format characters (soft hyphen,
  zero-width space) are dropped without a space; symbols separate parts.
* Titles are removed from the start of a name and suffixes from its end, never leaving
  the name empty (a family name that is just ``Lord`` stays ``LORD``).
* Names as councils meet them: a conservative table of variants of one name
  (``nicknames.csv``: KUBA is JAKUB, MAXAMED is MUHAMMAD), a permissive table of the names a
  form may stand for (``given_name_forms.csv``: TERRY may be TERENCE, RAJ may be RAJESH,
  MATEUSZ may be MATTHEW), given-name prefixes and suffixes (``given_name_affixes.csv``:
  MOHAMMED IMRAN is IMRAN elsewhere, RAMESHBHAI is RAMESH), and family names split into parts
  with their solid form (KAUR-DHILLON meets DHILLON and KAUR). Every part of every name is
  treated by the same rules, whatever community it comes from: nothing is marked in clear.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import jellyfish

__all__ = [
    "bigrams",
    "canonical_given_name",
    "family_name_parts",
    "given_name_forms",
    "given_name_forms_of_parts",
    "metaphone",
    "name_parts",
    "normalise_name",
    "normalise_text",
    "nysiis",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# --- folding ------------------------------------------------------------------------

#: Removed without leaving a space (O'Brien -> OBRIEN). Includes the spacing accents
#: that NFKD would otherwise turn into a space, and the transliteration marks of Arabic.
_APOSTROPHES = "'`\u00b4\u2018\u2019\u201b\u2032\u02b9\u02bb\u02bc\u02bd\u02be\u02bf\u02c8\uff07"

#: Letters with no Unicode decomposition to ASCII (upper case; lower case added below).
# fmt: off
_SPECIAL_UPPER = {
    "Æ": "AE", "Œ": "OE", "Ø": "O", "Ł": "L", "Đ": "D", "Ð": "D", "Þ": "TH", "Ħ": "H",
    "Ŧ": "T", "Ŋ": "N", "Ŀ": "L", "Ɓ": "B", "Ƀ": "B", "Ɗ": "D", "Ɖ": "D", "Ƒ": "F",
    "Ɠ": "G", "Ǥ": "G", "Ɨ": "I", "Ƙ": "K", "Ƚ": "L", "Ɲ": "N", "Ɵ": "O", "Ɔ": "O",
    "Ƴ": "Y", "Ɏ": "Y", "Ƶ": "Z", "Ȥ": "Z", "Ʒ": "Z", "Ǝ": "E", "Ə": "E", "Ɛ": "E",
    "Ɇ": "E", "Ɉ": "J", "Ɍ": "R", "Ʉ": "U", "Ⱥ": "A", "Ȼ": "C", "Ⱦ": "T", "ẞ": "SS",
}
# fmt: on
_SPECIAL_OTHER = {"ß": "SS", "ı": "I", "ĸ": "K", "ȷ": "J", "ŀ": "L"}


def _special_letters() -> dict[str, str]:
    table = dict(_SPECIAL_OTHER)
    for upper, ascii_form in _SPECIAL_UPPER.items():
        table[upper] = ascii_form
        lower = upper.lower()
        if len(lower) == 1 and not lower.isascii():
            table.setdefault(lower, ascii_form)
    return table


_PRE = str.maketrans({c: None for c in _APOSTROPHES} | {"Ŀ": "L", "ŀ": "L"})
_POST = str.maketrans({c: None for c in _APOSTROPHES} | _special_letters())
_ASCII_APOSTROPHES = str.maketrans({"'": None, "`": None})
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_NOT_LETTER = re.compile(r"[^A-Z]+")
#: Non-ASCII characters left after folding that are dropped without a space: marks,
#: invisible format characters, and letters or digits of other scripts (they are not
#: punctuation, and a separator there would split a word). Everything else (punctuation,
#: symbols, whitespace, controls) separates parts.
_DROPPED_CATEGORIES = frozenset(
    {"Mn", "Mc", "Me", "Cf", "Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No"}
)


def fold(text: str) -> str:
    """Upper-case ``text`` with accents, apostrophes and special letters reduced to ASCII.

    Punctuation other than apostrophes is kept (so callers can read commas, slashes and
    hyphens); letters, digits and marks that do not fold to ASCII are dropped; other
    non-ASCII characters (symbols, spaces) are kept and are separators for the callers'
    own patterns. Not exported: a helper for :func:`normalise_text` and the address
    parser.
    """
    if text.isascii():
        return text.translate(_ASCII_APOSTROPHES).upper()
    # Upper-casing first makes the result independent of case even for the few marks
    # that have a case mapping (U+0345 upper-cases to a Greek letter).
    decomposed = unicodedata.normalize("NFKD", text.upper().translate(_PRE)).translate(_POST)
    kept = "".join(
        c for c in decomposed if c.isascii() or unicodedata.category(c) not in _DROPPED_CATEGORIES
    )
    return kept.upper()


def normalise_text(text: str) -> str:
    """Fold ``text`` to upper-case ASCII letters and digits separated by single spaces.

    NFKD decomposition, combining marks dropped, letters without a decomposition mapped
    (``Ł`` -> ``L``, ``Ø`` -> ``O``, ``ß`` -> ``SS``, ``Æ`` -> ``AE``), apostrophes,
    invisible characters and letters of other scripts removed without a space, every
    other run of punctuation, symbols or whitespace replaced by one space, stripped.
    Idempotent and independent of case; ``""`` for blank input.

    >>> normalise_text("  Zoë  O’Brien-Łukasz ")
    'ZOE OBRIEN LUKASZ'
    """
    if not text:
        return ""
    return _NOT_ALNUM.sub(" ", fold(text)).strip()


# --- parts, titles --------------------------------------------------------------------


def name_tables_fingerprint() -> str:
    """A fingerprint of the name tables normalisation reads (titles, nicknames, given-name
    forms and affixes: every ``protocols/data/*.csv``): part of the partnership's encoding fingerprint, so extracts sealed with different
    tables are never mixed."""
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(DATA_DIR.glob("*.csv"))}
    return hashlib.sha256(repr(sorted(digests.items())).encode("utf-8")).hexdigest()[:16]


def _read_rows(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    return list(csv.DictReader(lines))


def _check_word(word: str, where: str) -> str:
    if not word or normalise_text(word) != word or " " in word:
        raise ValueError(f"{where}: {word!r} is not a normalised single name part")
    return word


@lru_cache(maxsize=1)
def _titles() -> tuple[frozenset[str], frozenset[str]]:
    titles: set[str] = set()
    suffixes: set[str] = set()
    for number, row in enumerate(_read_rows("titles.csv"), start=1):
        word = _check_word(row.get("word") or "", f"titles.csv row {number}")
        kind = (row.get("kind") or "").strip()
        if kind == "title":
            titles.add(word)
        elif kind == "suffix":
            suffixes.add(word)
        else:
            raise ValueError(f"titles.csv row {number}: kind must be 'title' or 'suffix'")
    return frozenset(titles), frozenset(suffixes)


def name_parts(text: str) -> tuple[str, ...]:
    """The parts of a name: :func:`normalise_text` split at spaces, titles/suffixes removed.

    Hyphenated, double-barrelled and particle names become several parts
    (``Smith-Jones`` -> ``("SMITH", "JONES")``, ``van der Berg`` -> ``("VAN", "DER",
    "BERG")``). Leading titles (``MR``, ``MRS``, ``DR``, ``REV``, ``SIR``, ``MASTER``...,
    see ``protocols/data/titles.csv``) and trailing suffixes (``JR``, ``SNR``, ``II``,
    ``III``...) are removed, but a name is never reduced to nothing: at least one part
    always stays (``Lord`` -> ``("LORD",)``, ``Mr Dr`` -> ``("DR",)``). ``()`` for
    blank input.
    """
    parts = normalise_text(text).split()
    if len(parts) < 2:
        return tuple(parts)
    titles, suffixes = _titles()
    start, end = 0, len(parts)
    while end - start > 1 and parts[start] in titles:
        start += 1
    while end - start > 1 and parts[end - 1] in suffixes:
        end -= 1
    return tuple(parts[start:end])


def normalise_name(text: str) -> str:
    """``" ".join(name_parts(text))``: the normalised name without titles or suffixes."""
    return " ".join(name_parts(text))


# --- nicknames ---------------------------------------------------------------------


def _validate_nicknames(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Check the variant table: normalised single parts, no duplicates, no chains/cycles."""
    table: dict[str, str] = {}
    for where, variant, canonical in (
        (f"nicknames.csv row {i}", v, c) for i, (v, c) in enumerate(pairs, 1)
    ):
        _check_word(variant, where)
        _check_word(canonical, where)
        if variant == canonical:
            raise ValueError(f"{where}: {variant} maps to itself")
        if variant in table:
            raise ValueError(f"{where}: {variant} is listed twice")
        table[variant] = canonical
    chained = sorted(set(table.values()) & set(table))
    if chained:
        raise ValueError(f"nicknames.csv: canonical forms that are also variants: {chained}")
    return table


@lru_cache(maxsize=1)
def _nicknames() -> dict[str, str]:
    rows = _read_rows("nicknames.csv")
    return _validate_nicknames([(r.get("variant") or "", r.get("canonical") or "") for r in rows])


def canonical_given_name(part: str) -> str:
    """The canonical form of a given-name part (nicknames and spelling variants resolved).

    The part is normalised first (:func:`normalise_text`), then looked up in
    ``protocols/data/nicknames.csv`` (``BILL`` -> ``WILLIAM``, ``KATIE`` -> ``KATHERINE``,
    ``MOHAMMED`` -> ``MUHAMMAD``). A name not in the table maps to its normalised self.
    Idempotent: a canonical form is never a variant.
    """
    key = normalise_text(part)
    return _nicknames().get(key, key)


# --- possible forms of a given name ---------------------------------------------------


def _validate_given_forms(pairs: list[tuple[str, str]], nicknames: dict[str, str],
                          suffixes: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Check the short-form table: normalised single parts, no duplicates, no chains,
    nothing that nicknames.csv already lists as a variant, and no full form ending with a
    given-name suffix (its forms would not be itself alone). Returns short -> sorted fulls."""
    table: dict[str, set[str]] = {}
    for where, short, full in ((f"given_name_forms.csv row {i}", s, f) for i, (s, f) in enumerate(pairs, 1)):
        _check_word(short, where)
        _check_word(full, where)
        if short == full:
            raise ValueError(f"{where}: {short} is listed as its own full form")
        if full in table.get(short, ()):
            raise ValueError(f"{where}: {short},{full} is listed twice")
        for word in (short, full):
            if word in nicknames:
                raise ValueError(f"{where}: {word} is a variant in nicknames.csv "
                                 f"(write its canonical form {nicknames[word]}, or list it only there)")
        table.setdefault(short, set()).add(full)
    chained = sorted({f for fulls in table.values() for f in fulls} & set(table))
    if chained:
        raise ValueError(f"given_name_forms.csv: full forms that are also short forms: {chained}")
    suffixed = sorted(f for fulls in table.values() for f in fulls if _suffix_stem(f, suffixes))
    if suffixed:
        raise ValueError(f"given_name_forms.csv: full forms ending with a given-name suffix of "
                         f"given_name_affixes.csv: {suffixed} (list the stem as the short form instead)")
    return {short: tuple(sorted(fulls)) for short, fulls in table.items()}


@lru_cache(maxsize=1)
def _given_forms() -> dict[str, tuple[str, ...]]:
    rows = _read_rows("given_name_forms.csv")
    return _validate_given_forms([(r.get("short") or "", r.get("full") or "") for r in rows], _nicknames(),
                                 _given_affixes()[1])


def _validate_given_affixes(pairs: list[tuple[str, str]],
                            nicknames: dict[str, str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Check the affix table: normalised single parts, kind prefix or suffix, no duplicates,
    prefixes written in their canonical form. Returns (prefixes, suffixes longest first)."""
    prefixes: set[str] = set()
    suffixes: set[str] = set()
    for number, (word, kind) in enumerate(pairs, 1):
        where = f"given_name_affixes.csv row {number}"
        _check_word(word, where)
        if word in prefixes or word in suffixes:
            raise ValueError(f"{where}: {word} is listed twice")
        if kind == "prefix":
            if word in nicknames:
                raise ValueError(f"{where}: {word} is a variant in nicknames.csv (write its canonical form "
                                 f"{nicknames[word]})")
            prefixes.add(word)
        elif kind == "suffix":
            suffixes.add(word)
        else:
            raise ValueError(f"{where}: kind must be 'prefix' or 'suffix'")
    return frozenset(prefixes), tuple(sorted(suffixes, key=lambda w: (-len(w), w)))


@lru_cache(maxsize=1)
def _given_affixes() -> tuple[frozenset[str], tuple[str, ...]]:
    rows = _read_rows("given_name_affixes.csv")
    return _validate_given_affixes([(r.get("word") or "", (r.get("kind") or "").strip()) for r in rows],
                                   _nicknames())


#: The shortest stem a given-name suffix is taken off (RAMBHAI -> RAM; REUBEN keeps its BEN).
_MIN_STEM = 3


def _suffix_stem(key: str, suffixes: tuple[str, ...]) -> str:
    """The stem of a normalised part ending with a given-name suffix (``RAMESHBHAI`` -> ``RAMESH``),
    or ``""``."""
    for suffix in suffixes:
        if key.endswith(suffix) and len(key) - len(suffix) >= _MIN_STEM:
            return key[: -len(suffix)]
    return ""


def _forms_of_key(key: str) -> set[str]:
    canonical = canonical_given_name(key)
    table = _given_forms()
    return {key, canonical, *table.get(key, ()), *table.get(canonical, ())}


def given_name_forms(part: str) -> tuple[str, ...]:
    """Every form a given-name part may stand for: itself, its canonical form, each full name
    it (or its canonical form) is used for, and, for a part ending with a given-name suffix,
    the forms of its stem. Sorted, distinct; ``()`` for blank input.

    The part is normalised first (:func:`normalise_text`). The canonical form comes from
    ``protocols/data/nicknames.csv`` (:func:`canonical_given_name`); the full names of
    ambiguous short forms, which that table leaves out on purpose, and the possible
    cross-language equivalents come from ``protocols/data/given_name_forms.csv`` (``HARRY`` ->
    ``HAROLD HARRISON HARRY HENRY ...``, ``BILL`` -> ``BILL WILLIAM``, ``HENRY`` -> ``HENRY``,
    ``KUBA`` -> ``JACOB JAKUB JAMES KUBA``: KUBA's canonical form JAKUB may be JACOB or JAMES).
    The suffixes are in ``protocols/data/given_name_affixes.csv`` (``RAMESHBHAI`` ->
    ``RAM RAMESH RAMESHBHAI``). Two parts whose forms share a value *may* be one person's
    names; two parts whose forms are disjoint are clearly different names. Every full form is
    canonical and has no suffix, so ``given_name_forms(f)`` of a full form ``f`` is ``(f,)``
    and always meets the forms of its short forms.
    """
    key = normalise_text(part)
    if not key:
        return ()
    forms = _forms_of_key(key)
    stem = _suffix_stem(key, _given_affixes()[1])
    if stem:
        forms |= _forms_of_key(stem)
    return tuple(sorted(forms))


def given_name_forms_of_parts(parts: Sequence[str]) -> tuple[str, ...]:
    """The forms of a whole given name (its parts, as :func:`name_parts` gives them): those
    of the first part (:func:`given_name_forms`) and, while a part is a given-name prefix of
    ``protocols/data/given_name_affixes.csv`` (MUHAMMAD and its spellings, SYED, ABDUL), those
    of the part after it: ``MOHAMMED IMRAN`` -> ``IMRAN MOHAMMED MUHAMMAD``, so it meets
    ``IMRAN``. Sorted, distinct; ``()`` for no parts.
    """
    keys = [k for k in (normalise_text(p) for p in parts) for k in k.split()]
    if not keys:
        return ()
    prefixes = _given_affixes()[0]
    forms = set(given_name_forms(keys[0]))
    index = 0
    while index + 1 < len(keys) and canonical_given_name(keys[index]) in prefixes:
        index += 1
        forms.update(given_name_forms(keys[index]))
    return tuple(sorted(forms))


# --- family names -----------------------------------------------------------------------


def family_name_parts(parts: Sequence[str]) -> tuple[str, ...]:
    """The values behind the sealed token list ``tok_family_parts``: every part of a family
    name (as :func:`name_parts` splits it at hyphens, spaces and other punctuation) and, for a
    name of two or more parts, the parts written solid. Sorted, distinct; ``()`` for none.

    ``SMITH-JONES`` and ``SMITH JONES`` -> ``JONES SMITH SMITHJONES``, which meets ``SMITH``,
    ``JONES`` and ``SMITHJONES`` (a system that strips hyphens); ``O BRIEN`` meets ``OBRIEN``;
    ``KAUR-DHILLON`` -> ``DHILLON KAUR KAURDHILLON`` meets ``DHILLON`` and ``KAUR``. Every
    part is treated alike, so which names are (say) Sikh names is never marked.
    """
    keys = [k for k in (normalise_text(p) for p in parts) for k in k.split()]
    if len(keys) > 1:
        keys.append("".join(keys))
    return tuple(sorted(set(keys)))


# --- phonetic codes, bigrams ------------------------------------------------------------


def _letters(part: str) -> str:
    return _NOT_LETTER.sub("", normalise_text(part))


def nysiis(part: str) -> str:
    """NYSIIS code (jellyfish) of the letters A-Z of the normalised part; ``""`` if none.

    Spaces and digits are dropped first, so ``"SMITH JONES"`` is coded as
    ``"SMITHJONES"``.
    """
    letters = _letters(part)
    return jellyfish.nysiis(letters) if letters else ""


def metaphone(part: str) -> str:
    """Metaphone code (jellyfish) of the letters A-Z of the normalised part; ``""`` if none."""
    letters = _letters(part)
    return jellyfish.metaphone(letters) if letters else ""


def bigrams(text: str) -> tuple[str, ...]:
    """Distinct padded character bigrams of the normalised text, in first-seen order.

    The text is normalised (:func:`normalise_text`), padded with ``_`` at both ends and
    every space is written ``_`` too, so a word boundary inside a multi-part value reads
    like the start or end of a word: ``"SMITH"`` -> ``_S SM MI IT TH H_`` and
    ``"VAN DER"`` -> ``_V VA AN N_ _D DE ER R_``. ``()`` for blank input. Duplicates are
    dropped (a Bloom filter encodes a set).
    """
    value = normalise_text(text)
    if not value:
        return ()
    padded = "_" + value.replace(" ", "_") + "_"
    return tuple(dict.fromkeys(padded[i : i + 2] for i in range(len(padded) - 1)))
