"""Phase 2 eligibility of the true families, written independently of the hub's engine.

A deliberately plain pandas reading of ``shared/spec/FRAMEWORKS.md`` (Phase 2 / expanded
programme) over ``truth/persons.csv`` and ``truth/events.csv``, so that the hub's SQL can be
checked against it. It never imports the hub's framework code.

Interpretations (each one a choice where the text leaves room):

* **Reference date** ``ref``: events dated after it are ignored, except
  ``custody_release_due`` (rule 2.3 looks forward).
* **Window Nm**: ``ref - N months < event_date <= ref``. "ref - N months" is calendar
  arithmetic: same day N months earlier, clamped to the end of a shorter month
  (2024-08-31 minus 6 months = 2024-02-29).
* **Active spell**: ``event_date <= ref`` and (``end_date`` blank or ``end_date > ref``).
* **"Active or window 12m"** (6.1, 6.2, 6.4): the spell is active, or its ``event_date``
  (start) is in the 12-month window. A spell that started earlier and ended inside the window
  does not count.
* **Family**: a true household at ``ref`` with at least one member under 18 at ``ref``;
  every household member is a family member. Only members' events count.
* **Adult** means 18 or over at ``ref`` (``role`` in persons.csv); "with parenting
  responsibilities" (2.3, 4.1) is taken to be every adult member of a family.
* **Age at an event**: whole years from date of birth to ``event_date`` (the birthday itself
  counts as the new age).
* **1.1 / 1.1b**: per person, the latest three ``attendance_term`` (resp.
  ``unauthorised_absence_term``) rows dated on or before ``ref``, by ``event_date``; the mean
  of their values (of all of them when fewer than three exist) is < 90 (resp. >= 15).
  No other window applies.
* **1.2**: per person, fixed-term exclusions in the 12-month window: count >= 3, or total
  days (value) >= 10, or total days of the exclusions that began while aged 4-10 >= 5.
* **2.1**: ``proven_offence`` in the window while under 18 at the event.
* **2.2**: police ``asb_intervention`` or housing ``asb_housing_intervention`` in the window,
  any member.
* **2.3**: adult with ``custody_release_due`` where ``ref < event_date <= ref + 12 months``.
* **2.4 / 2.5 / 3.1**: adult with an active ``licence`` / ``community_order`` /
  ``out_of_work_benefit`` spell (any ``detail``).
* **3.2**: ``neet`` in the window, aged 16-24 at the event.
* **3.3**: ``rent_arrears`` with value >= 500, or ``eviction_notice``, in the 6-month window.
* **4.x, 5.x, 6.3, 6.5, 6.6, 6.7**: the indicator in the 12-month window, any member.
* A family qualifies for a headline when any member satisfies any of its rules; it is
  eligible with >= 2 headlines.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

HEADLINES = ("education", "crime", "work", "health", "domestic_abuse", "children_need_help")
MINIMUM_HEADLINES = 2


def months_before(ref: dt.date, months: int) -> dt.date:
    """Same day ``months`` earlier (negative: later), clamped to the month's last day."""
    index = ref.year * 12 + ref.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(ref.day, last))


def _age_at(dob: pd.Series, when: pd.Series) -> pd.Series:
    before = (when.dt.month < dob.dt.month) | (
        (when.dt.month == dob.dt.month) & (when.dt.day < dob.dt.day)
    )
    return when.dt.year - dob.dt.year - before.astype(int)


def evaluate(persons: pd.DataFrame, events: pd.DataFrame, reference_date: dt.date) -> pd.DataFrame:
    """One row per family: family_id, eligible, headline_count, headlines, rules.

    ``persons`` needs person_id, family_id (blank when not in a family), role, date_of_birth;
    ``events`` needs person_id, source, indicator, event_date, end_date, value. Values may be
    strings as read from the CSV files.
    """
    ref = pd.Timestamp(reference_date)
    start_12 = pd.Timestamp(months_before(reference_date, 12))
    start_6 = pd.Timestamp(months_before(reference_date, 6))
    ahead_12 = pd.Timestamp(months_before(reference_date, -12))

    people = persons[["person_id", "family_id", "role", "date_of_birth"]].copy()
    people["family_id"] = people["family_id"].fillna("").astype(str)
    people = people[people["family_id"] != ""]
    people["dob"] = pd.to_datetime(people["date_of_birth"])
    ev = events.merge(
        people[["person_id", "family_id", "role", "dob"]], on="person_id", how="inner"
    )
    ev["event_date"] = pd.to_datetime(ev["event_date"].replace("", None))
    ev["end_date"] = pd.to_datetime(ev["end_date"].fillna("").replace("", None))
    ev["value"] = pd.to_numeric(ev["value"].fillna("").replace("", None), errors="coerce")
    ev["age_at_event"] = _age_at(ev["dob"], ev["event_date"])
    ev["in_12m"] = (ev["event_date"] > start_12) & (ev["event_date"] <= ref)
    ev["in_6m"] = (ev["event_date"] > start_6) & (ev["event_date"] <= ref)
    ev["active"] = (ev["event_date"] <= ref) & (ev["end_date"].isna() | (ev["end_date"] > ref))
    ev["adult"] = ev["role"] == "adult"

    def code(*names: str) -> pd.Series:
        return ev["indicator"].isin(names)

    hits: list[tuple[str, str, pd.Series]] = []  # (rule, headline, family ids)

    def rule(rule_id: str, headline: str, mask: pd.Series) -> None:
        hits.append((rule_id, headline, ev.loc[mask, "family_id"]))

    def latest_three_mean(indicator: str) -> pd.DataFrame:
        rows = ev[code(indicator) & (ev["event_date"] <= ref)]
        rows = rows.sort_values(["person_id", "event_date"], ascending=[True, False])
        rows = rows.groupby("person_id").head(3)
        return rows.groupby(["person_id", "family_id"], as_index=False)["value"].mean()

    attendance = latest_three_mean("attendance_term")
    hits.append(("1.1", "education", attendance.loc[attendance["value"] < 90, "family_id"]))
    absence = latest_three_mean("unauthorised_absence_term")
    hits.append(("1.1b", "education", absence.loc[absence["value"] >= 15, "family_id"]))
    excl = ev[code("fixed_term_exclusion") & ev["in_12m"]].copy()
    excl["primary_days"] = excl["value"].where(excl["age_at_event"].between(4, 10), 0)
    per = excl.groupby(["person_id", "family_id"], as_index=False).agg(
        n=("value", "size"), days=("value", "sum"), primary_days=("primary_days", "sum")
    )
    hits.append(
        (
            "1.2",
            "education",
            per.loc[
                (per["n"] >= 3) | (per["days"] >= 10) | (per["primary_days"] >= 5), "family_id"
            ],
        )
    )
    rule("1.3", "education", code("permanent_exclusion") & ev["in_12m"])
    rule("1.4", "education", code("alternative_provision") & ev["active"])
    rule("1.5", "education", code("not_on_roll") & ev["active"])

    rule("2.1", "crime", code("proven_offence") & ev["in_12m"] & (ev["age_at_event"] < 18))
    rule("2.2", "crime", code("asb_intervention", "asb_housing_intervention") & ev["in_12m"])
    released = (ev["event_date"] > ref) & (ev["event_date"] <= ahead_12)
    rule("2.3", "crime", code("custody_release_due") & released & ev["adult"])
    rule("2.4", "crime", code("licence") & ev["active"] & ev["adult"])
    rule("2.5", "crime", code("community_order") & ev["active"] & ev["adult"])

    rule("3.1", "work", code("out_of_work_benefit") & ev["active"] & ev["adult"])
    rule("3.2", "work", code("neet") & ev["in_12m"] & ev["age_at_event"].between(16, 24))
    arrears = code("rent_arrears") & (ev["value"] >= 500)
    rule("3.3", "work", (arrears | code("eviction_notice")) & ev["in_6m"])

    rule("4.1", "health", code("mental_health") & ev["in_12m"])
    rule("4.2", "health", code("substance_misuse") & ev["in_12m"])
    rule("4.3", "health", code("perinatal_mental_health") & ev["in_12m"])
    rule("4.4", "health", code("health_concern") & ev["in_12m"])

    rule("5.1", "domestic_abuse", code("domestic_abuse_victim") & ev["in_12m"])
    rule("5.2", "domestic_abuse", code("domestic_abuse_perpetrator") & ev["in_12m"])
    rule("5.3", "domestic_abuse", code("domestic_callout") & ev["in_12m"])

    rule("6.1", "children_need_help", code("early_help_assessment") & (ev["active"] | ev["in_12m"]))
    rule("6.2", "children_need_help", code("child_in_need") & (ev["active"] | ev["in_12m"]))
    rule("6.3", "children_need_help", code("s47_enquiry") & ev["in_12m"])
    rule("6.4", "children_need_help", code("child_protection_plan") & (ev["active"] | ev["in_12m"]))
    rule("6.5", "children_need_help", code("cse_concern", "missing_episode") & ev["in_12m"])
    rule("6.6", "children_need_help", code("speech_language_delay") & ev["in_12m"])
    rule("6.7", "children_need_help", code("early_education_not_taken") & ev["in_12m"])

    met = pd.concat(
        [
            pd.DataFrame({"family_id": ids.to_numpy(), "rule": r, "headline": h})
            for r, h, ids in hits
        ],
        ignore_index=True,
    ).drop_duplicates()
    families = pd.DataFrame({"family_id": sorted(people["family_id"].unique())})
    order = {h: i for i, h in enumerate(HEADLINES)}
    rule_order = {r: i for i, (r, _, _) in enumerate(hits)}
    met["h_order"] = met["headline"].map(order)
    met["r_order"] = met["rule"].map(rule_order)
    firsts = met.drop_duplicates(["family_id", "headline"]).sort_values(
        ["family_id", "h_order"], kind="stable"
    )
    headlines = firsts.groupby("family_id")["headline"].agg(";".join)
    counts = firsts.groupby("family_id").size()
    rules = (
        met.sort_values(["family_id", "r_order"], kind="stable")
        .groupby("family_id")["rule"]
        .agg(";".join)
    )
    out = families.set_index("family_id")
    out["headline_count"] = counts.reindex(out.index, fill_value=0).astype(int)
    out["eligible"] = out["headline_count"] >= MINIMUM_HEADLINES
    out["headlines"] = headlines.reindex(out.index, fill_value="")
    out["rules"] = rules.reindex(out.index, fill_value="")
    return out.reset_index()[["family_id", "eligible", "headline_count", "headlines", "rules"]]


def evaluate_truth_dir(truth_dir: Path, reference_date: dt.date) -> pd.DataFrame:
    """``evaluate`` over the files in a ``truth/`` folder."""
    persons = pd.read_csv(truth_dir / "persons.csv", dtype=str, keep_default_na=False)
    events = pd.read_csv(truth_dir / "events.csv", dtype=str, keep_default_na=False)
    return evaluate(persons, events, reference_date)
