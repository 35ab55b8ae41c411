"""Unit tests of protocols.normalise: concrete examples and edge cases."""

from __future__ import annotations

import ast
import sys
from datetime import date
from pathlib import Path

import pytest

import protocols.normalise as norm
from protocols.normalise import (
    Address,
    Postcode,
    age_in_months,
    age_in_years,
    bigrams,
    canonical_given_name,
    compile_date_format,
    metaphone,
    name_parts,
    nhs_check_digit,
    normalise_address,
    normalise_household_ref,
    normalise_name,
    normalise_nhs_number,
    normalise_ni_number,
    normalise_sex,
    normalise_text,
    normalise_upn,
    normalise_uprn,
    nysiis,
    parse_date,
    parse_postcode,
    swap_day_month,
    truncate_to_month,
    upn_check_letter,
)
from protocols.normalise.names import _nicknames, _titles, _validate_nicknames

PACKAGE_DIR = Path(norm.__file__).resolve().parent

# --- the package itself ---------------------------------------------------------------


def test_public_api_names():
    expected = {
        "normalise_text",
        "name_parts",
        "normalise_name",
        "canonical_given_name",
        "nysiis",
        "metaphone",
        "bigrams",
        "compile_date_format",
        "parse_date",
        "swap_day_month",
        "age_in_years",
        "age_in_months",
        "truncate_to_month",
        "Postcode",
        "parse_postcode",
        "Address",
        "normalise_address",
        "normalise_nhs_number",
        "nhs_check_digit",
        "normalise_ni_number",
        "normalise_upn",
        "upn_check_letter",
        "normalise_uprn",
        "normalise_sex",
        "normalise_household_ref",
    }
    assert set(norm.__all__) == expected
    assert all(callable(getattr(norm, name)) for name in expected)


def test_only_standard_library_and_jellyfish_imported():
    allowed_third_party = {"jellyfish"}
    forbidden = {"duckdb", "splink", "pandas", "numpy", "pyarrow"}
    for path in PACKAGE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & forbidden, (path.name, roots)
            for root in roots:
                assert (
                    root in sys.stdlib_module_names
                    or root in allowed_third_party
                    or root == "__future__"
                ), (
                    path.name,
                    root,
                )


def test_modules_stay_small():
    for path in PACKAGE_DIR.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 600, path.name


# --- normalise_text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("smith", "SMITH"),
        ("  Zoë  O’Brien-Łukasz ", "ZOE OBRIEN LUKASZ"),
        ("O'Brien", "OBRIEN"),
        ("OBrien", "OBRIEN"),
        ("O Brien", "O BRIEN"),
        ("O`Brien", "OBRIEN"),
        ("O´Brien", "OBRIEN"),
        ("O‘Brien", "OBRIEN"),
        ("d’Arcy", "DARCY"),
        ("Straße", "STRASSE"),
        ("STRASSE", "STRASSE"),
        ("Ærøskøbing", "AEROSKOBING"),
        ("Œuvre", "OEUVRE"),
        ("Đorđević", "DORDEVIC"),
        ("Þór", "THOR"),
        ("ıİ", "II"),
        ("Wałęsa", "WALESA"),
        ("Nguyễn", "NGUYEN"),
        ("Siân Ó Súilleabháin", "SIAN O SUILLEABHAIN"),
        ("José-María", "JOSE MARIA"),
        ("Ɓello Ɗanjuma Ƙ", "BELLO DANJUMA K"),
        ("Kwabɛna Ɔsei", "KWABENA OSEI"),
        ("ＦＵＬＬ　ＷＩＤＴＨ", "FULL WIDTH"),
        ("Jo\u00adhn", "JOHN"),  # soft hyphen is invisible
        ("Jo\u200bhn", "JOHN"),  # zero-width space too
        ("smith,  jones;\tbrown\n", "SMITH JONES BROWN"),
        ("Henry VIII 2nd", "HENRY VIII 2ND"),
        ("Иван Петров", ""),
        ("Ali علي", "ALI"),
        ("Aβc", "AC"),  # letters of other scripts vanish without splitting the word
        ("A©B", "A B"),  # symbols separate
        ("a.b.c", "A B C"),
        ("paŀla", "PALLA"),
        ("\x00\x1f", ""),
    ],
)
def test_normalise_text(raw, expected):
    assert normalise_text(raw) == expected
    assert normalise_text(expected) == expected


# --- name parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        ("Smith", ("SMITH",)),
        ("Smith-Jones", ("SMITH", "JONES")),
        ("Smith Jones", ("SMITH", "JONES")),
        ("van der Berg", ("VAN", "DER", "BERG")),
        ("O'Brien", ("OBRIEN",)),
        ("O Brien", ("O", "BRIEN")),
        ("Mr John Smith", ("JOHN", "SMITH")),
        ("Mrs. Jane Smith-Jones", ("JANE", "SMITH", "JONES")),
        ("Rev Dr Jane Smith", ("JANE", "SMITH")),
        ("Miss Amy", ("AMY",)),
        ("Mx Sam", ("SAM",)),
        ("John Smith Jr", ("JOHN", "SMITH")),
        ("John Smith III", ("JOHN", "SMITH")),
        ("Mr John Smith Snr.", ("JOHN", "SMITH")),
        ("Lord", ("LORD",)),  # a family name, never emptied
        ("Master", ("MASTER",)),
        ("Priya Master", ("PRIYA", "MASTER")),  # only leading titles are titles
        ("Mr Dr", ("DR",)),
        ("Junior", ("JUNIOR",)),
        ("Ade Junior", ("ADE", "JUNIOR")),  # JUNIOR is a name, not a suffix
    ],
)
def test_name_parts(raw, expected):
    assert name_parts(raw) == expected
    assert normalise_name(raw) == " ".join(expected)


def test_titles_table_loads():
    titles, suffixes = _titles()
    assert {"MR", "MRS", "MS", "MISS", "MX", "DR", "PROF", "REV", "SIR", "MASTER"} <= titles
    assert {"JR", "SNR", "II", "III"} <= suffixes
    assert not titles & suffixes


# --- nicknames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BILL", "WILLIAM"),
        ("BILLY", "WILLIAM"),
        ("WILL", "WILLIAM"),
        ("WILLIE", "WILLIAM"),
        ("WILLIAM", "WILLIAM"),
        ("BOB", "ROBERT"),
        ("BOBBY", "ROBERT"),
        ("ROB", "ROBERT"),
        ("ROBBIE", "ROBERT"),
        ("KATE", "KATHERINE"),
        ("KATIE", "KATHERINE"),
        ("KATHY", "KATHERINE"),
        ("CATHERINE", "KATHERINE"),
        ("KATHRYN", "KATHERINE"),
        ("KATHERINE", "KATHERINE"),
        ("JOHNNY", "JOHN"),
        ("MOHAMMED", "MUHAMMAD"),
        ("MOHAMMAD", "MUHAMMAD"),
        ("MOHAMED", "MUHAMMAD"),
        ("MUHAMMED", "MUHAMMAD"),
        ("MUHAMMAD", "MUHAMMAD"),
        ("AHMAD", "AHMED"),
        ("MUSTAPHA", "MUSTAFA"),
        ("YOUSEF", "YUSUF"),
        ("YUSEF", "YUSUF"),
        ("FATIMAH", "FATIMA"),
        ("AYESHA", "AISHA"),
        ("AYSHA", "AISHA"),
        ("SHIVAUN", "SIOBHAN"),
        ("ALEKSANDER", "ALEXANDER"),
        ("GURPRIT", "GURPREET"),
        # conservative: names in their own right and ambiguous forms are left alone
        ("JACK", "JACK"),
        ("HARRY", "HARRY"),
        ("ALEX", "ALEX"),
        ("SAM", "SAM"),
        ("CHRIS", "CHRIS"),
        ("KRZYSZTOF", "KRZYSZTOF"),
        ("MAREK", "MAREK"),
        ("ZEPHANIAH", "ZEPHANIAH"),
        # input is normalised first
        ("  bill ", "WILLIAM"),
        ("Zoë", "ZOE"),
        ("", ""),
    ],
)
def test_canonical_given_name(raw, expected):
    assert canonical_given_name(raw) == expected
    assert canonical_given_name(expected) == expected


def test_nickname_table_is_large_clean_and_chain_free():
    table = _nicknames()
    assert len(table) >= 300
    for variant, canonical in table.items():
        assert normalise_text(variant) == variant and " " not in variant
        assert normalise_text(canonical) == canonical and " " not in canonical
        assert canonical not in table  # no chains, so no cycles
        assert variant != canonical


def test_nickname_validation_rejects_bad_tables():
    with pytest.raises(ValueError, match="also variants"):
        _validate_nicknames([("BILL", "WILL"), ("WILL", "WILLIAM")])
    with pytest.raises(ValueError, match="also variants"):
        _validate_nicknames([("A", "B"), ("B", "A")])
    with pytest.raises(ValueError, match="twice"):
        _validate_nicknames([("BILL", "WILLIAM"), ("BILL", "WILLIAM")])
    with pytest.raises(ValueError, match="itself"):
        _validate_nicknames([("BILL", "BILL")])
    with pytest.raises(ValueError, match="normalised"):
        _validate_nicknames([("bill", "WILLIAM")])
    with pytest.raises(ValueError, match="normalised"):
        _validate_nicknames([("MARY ANN", "MARY")])
    assert _validate_nicknames([("BILL", "WILLIAM")]) == {"BILL": "WILLIAM"}


# --- phonetic codes and bigrams -----------------------------------------------------


def test_phonetic_codes():
    assert nysiis("") == "" and metaphone("") == ""
    assert nysiis("  -- ") == "" and metaphone("123") == ""
    assert nysiis("SMITH") == "SNAT"
    assert metaphone("SMITH") == "SM0"
    assert nysiis("Smith") == nysiis("SMITH")
    assert nysiis("MOHAMMED") == nysiis("MUHAMMAD")
    assert metaphone("O'Brien") == metaphone("OBRIEN")
    assert nysiis("SMITH JONES") == nysiis("SMITHJONES")
    assert nysiis("Müller") == nysiis("MULLER")


def test_bigrams():
    assert bigrams("SMITH") == ("_S", "SM", "MI", "IT", "TH", "H_")
    assert bigrams("smith") == bigrams("SMITH")
    assert bigrams("") == ()
    assert bigrams("  ") == ()
    assert bigrams("A") == ("_A", "A_")
    assert bigrams("VAN DER") == ("_V", "VA", "AN", "N_", "_D", "DE", "ER", "R_")
    assert bigrams("Smith-Jones") == bigrams("SMITH JONES")
    assert bigrams("ANNA") == ("_A", "AN", "NN", "NA", "A_")
    assert bigrams("NANA") == ("_N", "NA", "AN", "A_")  # distinct, first-seen order
    assert set(bigrams("SMITH")) <= set(bigrams("SMITH JONES"))


# --- dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("YYYY-MM-DD", "%Y-%m-%d"),
        ("DD/MM/YYYY", "%d/%m/%Y"),
        ("DD-MM-YYYY", "%d-%m-%Y"),
        ("YYYYMMDD", "%Y%m%d"),
        ("MM/DD/YYYY", "%m/%d/%Y"),
        ("DD.MM.YYYY", "%d.%m.%Y"),
        ("DD MM YYYY", "%d %m %Y"),
        ("dd/mm/yyyy", "%d/%m/%Y"),
    ],
)
def test_compile_date_format(pattern, expected):
    assert compile_date_format(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "YY-MM-DD",
        "DD/MM/YY",
        "YYYY-MM",
        "YYYY-MM-DD-DD",
        "YYYY-MM-DDx",
        "%Y-%m-%d",
        "MM/MM/YYYY",
        "YYYY_MM_DD",
        "DD/MON/YYYY",
        "YYYYY-MM-DD",
    ],
)
def test_compile_date_format_rejects(pattern):
    with pytest.raises(ValueError, match="unsupported date pattern"):
        compile_date_format(pattern)
    with pytest.raises(ValueError, match="unsupported date pattern"):
        parse_date("2020-01-01", pattern)


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("2020-01-31", "YYYY-MM-DD", date(2020, 1, 31)),
        ("  2020-01-31\t", "YYYY-MM-DD", date(2020, 1, 31)),
        ("31/01/2020", "DD/MM/YYYY", date(2020, 1, 31)),
        ("1/2/2020", "DD/MM/YYYY", date(2020, 2, 1)),
        ("01/02/2020", "MM/DD/YYYY", date(2020, 1, 2)),
        ("20200131", "YYYYMMDD", date(2020, 1, 31)),
        ("31.01.2020", "DD.MM.YYYY", date(2020, 1, 31)),
        ("29-02-2020", "DD-MM-YYYY", date(2020, 2, 29)),
        ("", "YYYY-MM-DD", None),
        ("   ", "DD/MM/YYYY", None),
        (None, "DD/MM/YYYY", None),
    ],
)
def test_parse_date(text, pattern, expected):
    assert parse_date(text, pattern) == expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("2020-02-30", "YYYY-MM-DD"),
        ("29/02/2019", "DD/MM/YYYY"),
        ("2020-13-01", "YYYY-MM-DD"),
        ("2020-00-10", "YYYY-MM-DD"),
        ("0000-01-01", "YYYY-MM-DD"),
        ("31/01/20", "DD/MM/YYYY"),  # no two-digit years
        ("2020/01/31", "YYYY-MM-DD"),  # wrong separator
        ("31-01-2020", "DD/MM/YYYY"),
        ("2020-1-31x", "YYYY-MM-DD"),
        ("2020131", "YYYYMMDD"),  # no short fields without separators
        ("2020-01-31T00:00", "YYYY-MM-DD"),
        ("2020-W01-1", "YYYY-MM-DD"),
        ("２０２０-01-31", "YYYY-MM-DD"),  # ASCII digits only
        ("31 / 01 / 2020", "DD/MM/YYYY"),
        ("yesterday", "DD/MM/YYYY"),
    ],
)
def test_parse_date_rejects(text, pattern):
    with pytest.raises(ValueError) as caught:
        parse_date(text, pattern)
    assert text.strip() not in str(caught.value)


def test_swap_day_month():
    assert swap_day_month(date(2015, 3, 7)) == date(2015, 7, 3)
    assert swap_day_month(date(2015, 12, 1)) == date(2015, 1, 12)
    assert swap_day_month(date(2015, 3, 25)) is None
    assert swap_day_month(date(2015, 4, 4)) is None
    assert swap_day_month(date(2016, 2, 12)) == date(2016, 12, 2)


@pytest.mark.parametrize(
    ("dob", "at", "years", "months"),
    [
        (date(2000, 1, 1), date(2000, 1, 1), 0, 0),
        (date(2000, 1, 15), date(2010, 1, 14), 9, 119),
        (date(2000, 1, 15), date(2010, 1, 15), 10, 120),
        (date(2000, 2, 29), date(2001, 2, 28), 0, 11),  # 29 Feb: birthday reached on 1 March
        (date(2000, 2, 29), date(2001, 3, 1), 1, 12),
        (date(2000, 2, 29), date(2004, 2, 28), 3, 47),
        (date(2000, 2, 29), date(2004, 2, 29), 4, 48),
        (date(2000, 2, 28), date(2001, 2, 28), 1, 12),
        (date(2020, 1, 31), date(2020, 2, 29), 0, 0),
        (date(2020, 1, 31), date(2020, 3, 1), 0, 1),
        (date(2020, 5, 10), date(2020, 5, 9), -1, -1),  # before the birth: negative
        (date(2020, 5, 10), date(2019, 5, 10), -1, -12),
        (date(2020, 5, 10), date(2019, 5, 9), -2, -13),
    ],
)
def test_ages(dob, at, years, months):
    assert age_in_years(dob, at) == years
    assert age_in_months(dob, at) == months


def test_truncate_to_month():
    assert truncate_to_month(date(2021, 7, 31)) == date(2021, 7, 1)
    assert truncate_to_month(date(2021, 7, 1)) == date(2021, 7, 1)


# --- postcodes ------------------------------------------------------------------------


LE11 = Postcode(unit="LE11 3AB", sector="LE11 3", district="LE11", area="LE")


@pytest.mark.parametrize("raw", ["LE11 3AB", "le113ab", " LE11  3ab ", "LE113AB", "Le11\t3aB"])
def test_parse_postcode_spacing_and_case(raw):
    assert parse_postcode(raw) == LE11


@pytest.mark.parametrize(
    ("raw", "unit", "sector", "district", "area"),
    [
        ("M1 1AE", "M1 1AE", "M1 1", "M1", "M"),  # A9
        ("B33 8TH", "B33 8TH", "B33 8", "B33", "B"),  # A99
        ("CR2 6XH", "CR2 6XH", "CR2 6", "CR2", "CR"),  # AA9
        ("DN55 1PT", "DN55 1PT", "DN55 1", "DN55", "DN"),  # AA99
        ("W1A 1HQ", "W1A 1HQ", "W1A 1", "W1A", "W"),  # A9A
        ("EC1A 1BB", "EC1A 1BB", "EC1A 1", "EC1A", "EC"),  # AA9A
        ("gir0aa", "GIR 0AA", "GIR 0", "GIR", "GIR"),
    ],
)
def test_parse_postcode_formats(raw, unit, sector, district, area):
    assert parse_postcode(raw) == Postcode(unit, sector, district, area)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_parse_postcode_blank(raw):
    assert parse_postcode(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "LE11",
        "3AB",
        "LE11 3A",
        "LE11 3ABC",
        "LEE11 3AB",
        "1E11 3AB",
        "LE111 3AB",
        "LE11-3AB",
        "GIR 1AA",
        "ＬＥ11 3AB",
        "LE11 3ÅB",
        "not a postcode",
    ],
)
def test_parse_postcode_rejects(raw):
    with pytest.raises(ValueError) as caught:
        parse_postcode(raw)
    assert raw not in str(caught.value)


def test_postcode_is_frozen():
    with pytest.raises(AttributeError):
        LE11.unit = "X"  # type: ignore[misc]


# --- addresses ------------------------------------------------------------------------


MILL_LANE_LAYOUTS = [
    "Flat 2, 14 Mill Lane, Loughborough",
    "2/14 Mill Ln Loughborough",
    "14 Mill Lane Flat 2",
    "14 Mill Lane, Flat 2, Loughborough",
    "FLAT 2 14 MILL LANE",
    "flat 2 14 mill lane loughborough le11 3ab",
    "Flat 2, 14 Mill Lane, Loughborough, LE11 3AB",
    "Apartment 2, 14 Mill Lane",
    "Apt. 2, 14 Mill Ln.",
    "Flat No. 2, 14 Mill Lane",
    "Unit 2 14 Mill Lane",
    "Flat 2/14 Mill Lane",
    "2, 14 Mill Lane, Loughborough",
    "2 14 Mill Lane",
    "Flat 2, Mill House, 14 Mill Lane, Loughborough",
    "  Flat   2 ,14 Mill  Lane ,Loughborough  ",
    "Flat 2\n14 Mill Lane\nLoughborough",
]


@pytest.mark.parametrize("raw", MILL_LANE_LAYOUTS)
def test_address_layouts_share_a_key(raw):
    address = normalise_address(raw)
    assert address.key == "FLAT 2 14 MILL LANE"
    assert address.building == "14 MILL LANE"
    assert (address.flat, address.number, address.street) == ("2", "14", "MILL LANE")
    assert address.locality in ("", "LOUGHBOROUGH")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Flat 2, 14 Mill Lane, Loughborough", Address("2", "14", "MILL LANE", "LOUGHBOROUGH")),
        ("Flat 2A, 14 Mill Lane", Address("2A", "14", "MILL LANE", "")),
        ("Flat B 14 Mill Lane", Address("B", "14", "MILL LANE", "")),
        ("14a Mill Lane", Address("", "14A", "MILL LANE", "")),
        ("14 A Mill Lane", Address("", "14A", "MILL LANE", "")),
        ("14-16 High St", Address("", "14-16", "HIGH STREET", "")),
        ("14 – 16 High Street, Leicester", Address("", "14-16", "HIGH STREET", "LEICESTER")),
        ("Rose Cottage, Main Street", Address("", "ROSE COTTAGE", "MAIN STREET", "")),
        ("Rose Cottage Main St Shepshed", Address("", "ROSE COTTAGE", "MAIN STREET", "SHEPSHED")),
        ("14 St Marys Road", Address("", "14", "SAINT MARYS ROAD", "")),
        ("St. Mary's Rd, Melton", Address("", "", "SAINT MARYS ROAD", "MELTON")),
        ("14 High St Loughborough", Address("", "14", "HIGH STREET", "LOUGHBOROUGH")),
        ("14 Station St., Leicester", Address("", "14", "STATION STREET", "LEICESTER")),
        ("3 Park Rd", Address("", "3", "PARK ROAD", "")),
        ("3 Green Ln", Address("", "3", "GREEN LANE", "")),
        ("3 The Green, Anstey", Address("", "3", "THE GREEN", "ANSTEY")),
        ("3 Oak Ave", Address("", "3", "OAK AVENUE", "")),
        ("3 Oak Av", Address("", "3", "OAK AVENUE", "")),
        ("3 Elm Cl", Address("", "3", "ELM CLOSE", "")),
        ("3 Elm Cres", Address("", "3", "ELM CRESCENT", "")),
        ("3 Elm Dr", Address("", "3", "ELM DRIVE", "")),
        ("3 Elm Gdns", Address("", "3", "ELM GARDENS", "")),
        ("3 Elm Pl", Address("", "3", "ELM PLACE", "")),
        ("3 Elm Sq", Address("", "3", "ELM SQUARE", "")),
        ("3 Elm Ter", Address("", "3", "ELM TERRACE", "")),
        ("3 Elm Terr", Address("", "3", "ELM TERRACE", "")),
        ("3 Elm Ct", Address("", "3", "ELM COURT", "")),
        ("3 Elm Grn", Address("", "3", "ELM GREEN", "")),
        ("3 Elm Gr", Address("", "3", "ELM GROVE", "")),
        ("3 Elm Gro", Address("", "3", "ELM GROVE", "")),
        ("3 Elm Pk", Address("", "3", "ELM PARK", "")),
        ("3 Elm Wy", Address("", "3", "ELM WAY", "")),
        ("3 High Street North, Hinckley", Address("", "3", "HIGH STREET NORTH", "HINCKLEY")),
        ("3 London Road, East Goscote", Address("", "3", "LONDON ROAD", "EAST GOSCOTE")),
        ("3 London Road East Goscote", Address("", "3", "LONDON ROAD", "EAST GOSCOTE")),
        ("Ground Floor Flat, 14 Mill Lane", Address("GROUND FLOOR", "14", "MILL LANE", "")),
        ("1st Floor Flat 14 Mill Lane", Address("FIRST FLOOR", "14", "MILL LANE", "")),
        ("14 Flat Lane", Address("", "14", "FLAT LANE", "")),
        ("Flat 1st Floor, 7 Elm Road", Address("FIRST FLOOR", "7", "ELM ROAD", "")),
        ("7 Elm Road Apartment B", Address("B", "7", "ELM ROAD", "")),
        ("14 Park View Road, Loughborough", Address("", "14", "PARK VIEW ROAD", "LOUGHBOROUGH")),
        ("14 Park View Road Loughborough", Address("", "14", "PARK VIEW ROAD", "LOUGHBOROUGH")),
        ("14 Park St Loughborough", Address("", "14", "PARK STREET", "LOUGHBOROUGH")),
        ("14 St Marys Rd St Ives", Address("", "14", "SAINT MARYS ROAD", "SAINT IVES")),
        ("14 High St St Ives", Address("", "14", "HIGH STREET", "SAINT IVES")),
        ("14 Station St", Address("", "14", "STATION STREET", "")),
        ("14 St", Address("", "14", "STREET", "")),
        ("14 Mill Lane Park Gate", Address("", "14", "MILL LANE", "PARK GATE")),
        ("Mill Lane 14, Loughborough", Address("", "14", "MILL LANE", "LOUGHBOROUGH")),
        ("14, Mill Lane, Loughborough", Address("", "14", "MILL LANE", "LOUGHBOROUGH")),
        (
            "Flat 2, Rose Court, Mill Lane, Loughborough",
            Address("2", "ROSE COURT", "MILL LANE", "LOUGHBOROUGH"),
        ),
        (
            "Flat 2 Rose Court Mill Lane Loughborough",
            Address("2", "ROSE COURT", "MILL LANE", "LOUGHBOROUGH"),
        ),
        ("Flat 2 Rose Court, Loughborough", Address("2", "", "ROSE COURT", "LOUGHBOROUGH")),
        ("Ashby-de-la-Zouch Road", Address("", "", "ASHBY DE LA ZOUCH ROAD", "")),
        ("14 Mill Lane, Ashby-de-la-Zouch", Address("", "14", "MILL LANE", "ASHBY DE LA ZOUCH")),
        ("12 Müllerstraße", Address("", "12", "MULLERSTRASSE", "")),
        ("LE11 3AB", Address()),
        ("", Address()),
        ("  ,, ; ", Address()),
    ],
)
def test_normalise_address(raw, expected):
    assert normalise_address(raw) == expected


def test_house_name_and_street_keys_agree_across_layouts():
    keys = {
        normalise_address(raw).key
        for raw in [
            "Rose Cottage, Main Street, Loughborough",
            "Rose Cottage Main Street Loughborough",
            "ROSE COTTAGE, MAIN ST",
            "rose cottage main st., loughborough, le12 9zz",
        ]
    }
    assert keys == {"ROSE COTTAGE MAIN STREET"}
    willows = {
        normalise_address(raw).key for raw in ["The Willows, Main Street", "The Willows Main St"]
    }
    assert willows == {"THE WILLOWS MAIN STREET"}


def test_address_key_and_building():
    address = Address(flat="2", number="14", street="MILL LANE", locality="LOUGHBOROUGH")
    assert address.key == "FLAT 2 14 MILL LANE"
    assert address.building == "14 MILL LANE"
    assert Address(number="14", street="MILL LANE").key == "14 MILL LANE"
    assert Address(flat="2", street="ROSE COURT").key == "FLAT 2 ROSE COURT"
    assert Address().key == "" and Address().building == ""


# --- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9434765919", "9434765919"),
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        (" 4010232137 ", "4010232137"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_normalise_nhs_number(raw, expected):
    assert normalise_nhs_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "9434765918",
        "4010232138",
        "943476591",
        "94347659190",
        "943476591X",
        "0000000060",
        "0000000000",
        "9999999999",
        "９４３４７６５９１９",
        "943.476.5919",
    ],
)
def test_normalise_nhs_number_rejects(raw):
    with pytest.raises(ValueError) as caught:
        normalise_nhs_number(raw)
    assert raw not in str(caught.value)


def test_nhs_check_digit():
    assert nhs_check_digit("943476591") == 9
    assert nhs_check_digit("401023213") == 7
    assert nhs_check_digit("000000006") is None  # the check would be 10
    assert nhs_check_digit("000000000") == 0  # 11 is read as 0
    for bad in ["", "12345678", "1234567890", "12345678X"]:
        with pytest.raises(ValueError):
            nhs_check_digit(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB123456C", "AB123456"),
        ("AB123456", "AB123456"),
        ("ab 12 34 56 c", "AB123456"),
        ("AB 123456 D", "AB123456"),
        ("OA123456A", "OA123456"),
        ("ZY123456", "ZY123456"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_ni_number(raw, expected):
    assert normalise_ni_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "QQ123456C",
        "DA123456A",
        "FA123456A",
        "IA123456A",
        "UA123456A",
        "VA123456A",
        "AD123456A",
        "AO123456A",
        "AQ123456A",
        "AV123456A",
        "BG123456A",
        "GB123456A",
        "KN123456A",
        "NK123456A",
        "NT123456A",
        "TN123456A",
        "ZZ123456A",
        "AB123456E",
        "AB12345C",
        "AB1234567",
        "A1234567",
        "AB123456CC",
        "ＡＢ123456C",
    ],
)
def test_normalise_ni_number_rejects(raw):
    with pytest.raises(ValueError) as caught:
        normalise_ni_number(raw)
    assert raw not in str(caught.value)


def test_upn_check_letter_worked_examples():
    # 8x2 + 1x4 + 2x5 + 5x10 + 1x13 = 93; 93 mod 23 = 1 -> B
    assert upn_check_letter("801200005001") == "B"
    # 2x2 + 4x7 + 9x1 + 10x6 + 12x4 + 13x9 = 266; 266 mod 23 = 13 -> P (A=0 ... H=7, J=8 ...)
    assert upn_check_letter("207000016049") == "P"
    # temporary UPN: 8x2 + 1x4 + 2x5 + 5x10 + 1x12 + A(0)x13 = 92; 92 mod 23 = 0 -> A
    assert upn_check_letter("80120000501A") == "A"
    # 9x2+3x3+6x4+1x5+2x6+3x7+4x8+5x9+6x10+7x11+8x12 + Z(22)x13 = 685; 685 mod 23 = 18 -> V
    assert upn_check_letter("93612345678Z") == "V"
    assert upn_check_letter("93612345678z") == "V"
    for bad in ["", "80120000500", "8012000050011", "80120000501I", "8012000X5001", "80120000501S"]:
        with pytest.raises(ValueError):
            upn_check_letter(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("B801200005001", "B801200005001"),
        ("b801200005001", "B801200005001"),
        (" P207 0000 16049 ", "P207000016049"),
        ("A80120000501A", "A80120000501A"),
        ("v93612345678z", "V93612345678Z"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_upn(raw, expected):
    assert normalise_upn(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "A801200005001",
        "Q207000016049",
        "B80120000500",
        "B8012000050011",
        "I801200005001",
        "B80120000501I",
        "B8012000X5001",
        "8801200005001",
        "Ｂ801200005001",
    ],
)
def test_normalise_upn_rejects(raw):
    with pytest.raises(ValueError) as caught:
        normalise_upn(raw)
    assert raw not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100030234567", "100030234567"),
        (" 000100030234567 ", "100030234567"),
        ("1", "1"),
        ("007", "7"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_uprn(raw, expected):
    assert normalise_uprn(raw) == expected


@pytest.mark.parametrize("raw", ["0", "000", "1000302345678", "12a", "1 2", "-5", "1.0", "１２"])
def test_normalise_uprn_rejects(raw):
    with pytest.raises(ValueError):
        normalise_uprn(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("M", "M"),
        ("m", "M"),
        ("Male", "M"),
        (" MALE ", "M"),
        ("F", "F"),
        ("f", "F"),
        ("female", "F"),
        ("U", "U"),
        ("unknown", "U"),
        ("X", "U"),
        ("Not known", "U"),
        ("not-specified", "U"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_normalise_sex(raw, expected):
    assert normalise_sex(raw) == expected


@pytest.mark.parametrize("raw", ["1", "2", "W", "boy", "Mal", "??"])
def test_normalise_sex_rejects(raw):
    with pytest.raises(ValueError):
        normalise_sex(raw)


def test_normalise_household_ref():
    assert normalise_household_ref("  hh-123 ") == "HH-123"
    assert normalise_household_ref("claim \t 12  b") == "CLAIM 12 B"
    assert normalise_household_ref("") is None
    assert normalise_household_ref("   ") is None
    assert normalise_household_ref(None) is None


def test_walk_abbreviations_expand():
    from protocols.normalise import normalise_address

    assert normalise_address("3 Cherry Wlk").key == normalise_address("3 Cherry Walk").key == "3 CHERRY WALK"
