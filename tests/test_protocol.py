"""The data-sharing protocol: rendered from the enforced agreements, complete, and linted."""

from __future__ import annotations

import html
import re
import shutil

import pytest
import yaml
from click.testing import CliRunner

from familylink.cli.governance import protocol
from familylink.core.contract import SEALED_COLUMNS
from protocols.agreements import AgreementSet, default_agreements_dir, load_agreements
from protocols.encoding import IDENTITY_SEALED_COLUMNS
from protocols.protocol_document import (
    FIELD_PROTECTION,
    check_protocol,
    contract_problems,
    key_label,
    protection_of,
    render_protocol,
)

SECTIONS = ("Purpose", "Parties and roles", "Legal gateways", "Data items", "Special category",
            "Criminal offence", "Retention", "Security measures", "Re-identification", "Residual risks",
            "Fingerprints")


def section_of(text: str, title: str, fmt: str) -> str:
    """The text of one numbered section, up to the next one."""
    marker = r"\n## \d+\. " if fmt == "md" else r"\n<h2>\d+\. "
    parts = re.split(marker, text)
    found = [p for p in parts if p.startswith(title)]
    assert len(found) == 1, f"section {title!r} missing"
    return found[0]


def field_row(fmt: str, field: str, reason: str, protection: str) -> str:
    """The table row a shared field must have: its name, its reason and its protection."""
    if fmt == "md":
        return f"| `{field}` | {reason} | {protection} |"
    protection = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(protection))
    return f"<tr><td><code>{field}</code></td><td>{html.escape(reason)}</td><td>{protection}</td></tr>"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_rendered_protocol_has_every_section_and_every_shared_field_with_reason_and_protection(agreements, fmt):
    text = render_protocol(agreements, fmt)
    esc = html.escape if fmt == "html" else (lambda s: s)
    for title in SECTIONS:
        section_of(text, title, fmt)
    data = section_of(text, "Data items", fmt)
    per_source = {part.split("<", 1)[0].split("\n", 1)[0]: part for part in data.split("Data items: ")[1:]}
    assert set(per_source) == set(agreements.sources)
    for source in agreements.sources:
        agreement = agreements[source]
        for field, reason in agreement.fields.items():
            protection = protection_of(field, agreements.partnership, agreement)
            assert re.search(r"keyed HMAC token|keyed Bloom filter|derived attribute|clear: ", protection)
            assert field_row(fmt, field, " ".join(reason.split()), protection) in per_source[source], \
                f"{source}.{field}: no row with its reason and protection"
        assert esc(agreement.owner.organisation) in section_of(text, "Parties and roles", fmt)
        legal = section_of(text, "Legal gateways", fmt)
        for gateway in agreement.lawful_basis.legal_gateways:
            assert esc(gateway) in legal
        assert esc(agreement.lawful_basis.article_6) in legal
        assert esc(agreement.retention.action) in section_of(text, "Retention", fmt)
        assert agreement.fingerprint in section_of(text, "Fingerprints", fmt)
    for risk in agreements.partnership.residual_risks:
        assert esc(risk) in section_of(text, "Residual risks", fmt)
    for measure in agreements.partnership.security_measures:
        assert esc(measure) in section_of(text, "Security measures", fmt)
    assert "only the provider can resolve a record_id" in section_of(text, "Re-identification", fmt).lower()
    assert "joint controller" in section_of(text, "Parties and roles", fmt)
    assert "Art 9(2)(g)" in section_of(text, "Special category", fmt)
    assert "s10(5)" in section_of(text, "Criminal offence", fmt)
    assert "512 bits" in text and "15 hashes" in text and "HKDF" in text
    assert agreements.fingerprint in section_of(text, "Fingerprints", fmt)


def test_protocol_is_deterministic_and_tracks_the_agreements(agreements, tmp_path):
    assert render_protocol(agreements, "md") == render_protocol(load_agreements(default_agreements_dir()), "md")
    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "dwp.yaml"
    document = yaml.safe_load(path.read_text())
    document["retention"]["months"] = 12
    path.write_text(yaml.safe_dump(document))
    changed = load_agreements(tmp_path / "a")
    assert changed.fingerprint != agreements.fingerprint
    assert changed.fingerprint in render_protocol(changed, "md")


def test_html_is_self_contained_and_escaped(agreements, tmp_path):
    text = render_protocol(agreements, "html")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\(|<script|<link", text, re.I)
    shutil.copytree(default_agreements_dir(), tmp_path / "a")
    path = tmp_path / "a" / "police.yaml"
    document = yaml.safe_load(path.read_text())
    document["fields"]["sex"] = "Tell apart <script>alert(1)</script> people & similar names"
    path.write_text(yaml.safe_dump(document))
    text = render_protocol(load_agreements(tmp_path / "a"), "html")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; people &amp; similar" in text


def test_protection_covers_every_sealed_column():
    assert not contract_problems()
    described = {c for spec in FIELD_PROTECTION.values() for c in (*spec.tokens, *spec.derived, *spec.clear)}
    described |= {spec.bloom for spec in FIELD_PROTECTION.values() if spec.bloom}
    assert set(IDENTITY_SEALED_COLUMNS) <= described <= set(SEALED_COLUMNS)
    assert key_label("tok_dob_swapped") == "token/tok_dob" and key_label("bf_address") == "bloom/address"


def test_check_passes_on_the_shipped_agreements(agreements):
    assert check_protocol(agreements) == []
    assert check_protocol(default_agreements_dir()) == []


def mistaken_copy(tmp_path):
    folder = tmp_path / "a"
    shutil.copytree(default_agreements_dir(), folder)

    def edit(source, change):
        path = folder / f"{source}.yaml"
        document = yaml.safe_load(path.read_text())
        change(document)
        path.write_text(yaml.safe_dump(document))

    edit("dwp", lambda d: d["fields"].update(ni_number="tbc"))              # no real reason
    edit("schools", lambda d: d["fields"].update(upn=""))                   # no reason at all
    edit("health", lambda d: d.update(special_category=False, special_category_data=None)
         or d["lawful_basis"].update(article_9=None))                        # health without Art 9
    edit("probation", lambda d: d.pop("retention"))                          # no retention
    edit("housing", lambda d: d["lawful_basis"].update(legal_gateways=[]))   # no gateway
    edit("police", lambda d: d["vocabulary"]["details"].pop("arrest"))        # free-text detail in clear
    edit("social_care", lambda d: d["lawful_basis"].update(article_9=None))  # flagged, no Art 9 condition
    return folder


def test_check_reports_each_mistake_with_its_location_and_a_fix(tmp_path):
    folder = mistaken_copy(tmp_path)
    problems = check_protocol(folder)
    where = {p.where.replace(str(folder) + "/", "") for p in problems}
    assert where == {"dwp.yaml: fields.ni_number", "schools.yaml: fields.upn", "health.yaml: special_category",
                     "health.yaml: lawful_basis.article_9", "health.yaml: special_category_data",
                     "probation.yaml: retention", "housing.yaml: lawful_basis.legal_gateways",
                     "police.yaml: vocabulary.details.arrest", "social_care.yaml: lawful_basis.article_9"}
    assert all(p.fix for p in problems)
    text = "\n".join(map(str, problems))
    assert "ni_number is shared without a stated reason" in text
    assert "special-category data without an Art 9 condition" in text
    assert len(problems) == len(where)


def test_cli_render_and_check(tmp_path):
    runner = CliRunner()
    for fmt in ("md", "html"):
        out = tmp_path / f"protocol.{fmt}"
        result = runner.invoke(protocol, ["render", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert str(out) in result.output and load_agreements(default_agreements_dir()).fingerprint in result.output
        assert "Data items" in out.read_text()
    result = runner.invoke(protocol, ["check"])
    assert result.exit_code == 0 and "no problems" in result.output
    folder = mistaken_copy(tmp_path)
    result = runner.invoke(protocol, ["check", "--agreements", str(folder)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error:" in result.output and "probation.yaml: retention" in result.output
    result = runner.invoke(protocol, ["render", "--out", str(tmp_path / "x.md"), "--agreements", str(folder)])
    assert result.exit_code == 1 and "Error:" in result.output
    assert not (tmp_path / "x.md").exists()


def test_cli_help_for_every_command():
    runner = CliRunner()
    assert len(protocol.help or "") > 20
    for name, command in protocol.commands.items():
        assert runner.invoke(protocol, [name, "--help"]).exit_code == 0
        assert len(command.help or "") > 20
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"protocol {name} --{param.name} has no help"


def test_each_source_says_how_ages_travel_and_a_months_agreement_says_why(agreements):
    """Issue 13: ages in whole years unless an agreement declares months, with its reason."""
    reason = "a framework rule of this partnership counts ages in months"
    police = agreements["police"].model_copy(update={"age_precision": "months", "age_months_reason": reason})
    changed = AgreementSet(agreements.directory, agreements.partnership, {**agreements.agreements, "police": police})
    text = render_protocol(changed, "md")
    assert f"Ages travel in whole months at the extract date (`age_months`, which with the extract date gives " \
           f"the year and month of birth) because: {reason}" in text
    assert text.count("Ages travel in whole years at the extract date") == len(agreements.sources) - 1
    assert "`age_months`" in protection_of("date_of_birth", changed.partnership, police)
    assert "`age_months`" not in protection_of("date_of_birth", changed.partnership, agreements["schools"])
