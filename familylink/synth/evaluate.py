"""Scoring a run's families and candidates against a synthetic county's truth.

Used by the end-to-end tests and the benchmarks; never by the hub's own stages. A hub
family is matched to the true family most of its resident members belong to (through
``persons.csv`` and ``truth/records.csv``).

* eligible **precision**: the share of the hub's eligible families matched to a family that
  is eligible in ``truth/eligible.csv``;
* eligible **recall**: the share of truly eligible families matched by an eligible hub family;
* headline agreement: for matched eligible pairs, the share with the same headline set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class FamilyScore:
    hub_families: int
    truth_families: int
    hub_eligible: int
    truth_eligible: int
    true_positives: int  # hub eligible families matched to a truly eligible family
    found: int  # truly eligible families matched by a hub eligible family
    same_headlines: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.hub_eligible if self.hub_eligible else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.truth_eligible if self.truth_eligible else 1.0

    @property
    def headline_agreement(self) -> float:
        return self.same_headlines / self.true_positives if self.true_positives else 1.0


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def family_truth_map(run_dir: Path, truth_dir: Path) -> pd.DataFrame:
    """hub family_id -> the true family_id most of its resident members belong to ('' if none)."""
    persons = _read(run_dir / "persons.csv")
    families = _read(run_dir / "families.csv")
    records = _read(truth_dir / "records.csv").rename(columns={"person_id": "true_person"})
    truth = _read(truth_dir / "persons.csv")[["person_id", "family_id"]].rename(
        columns={"person_id": "true_person", "family_id": "true_family"})
    resident = families[(families["family_id"] != "") & (families["resident"] == "true")]
    votes = (resident.merge(persons[["person_id", "source", "record_id"]], on="person_id")
             .merge(records, on=["source", "record_id"])
             .merge(truth, on="true_person")
             .drop_duplicates(["family_id", "person_id", "true_family"]))
    votes = votes[votes["true_family"] != ""]
    counts = votes.groupby(["family_id", "true_family"]).size().reset_index(name="n")
    counts = counts.sort_values(["family_id", "n", "true_family"], ascending=[True, False, True])
    best = counts.drop_duplicates("family_id")[["family_id", "true_family"]]
    hub = pd.DataFrame({"family_id": sorted(resident["family_id"].unique())})
    return hub.merge(best, on="family_id", how="left").fillna("")


def score_families(run_dir: str | Path, truth_dir: str | Path) -> FamilyScore:
    run_dir, truth_dir = Path(run_dir), Path(truth_dir)
    mapping = family_truth_map(run_dir, truth_dir)
    candidates = _read(run_dir / "candidates.csv")[["family_id", "eligible", "headlines"]]
    truth = _read(truth_dir / "eligible.csv")[["family_id", "eligible", "headlines"]].rename(
        columns={"family_id": "true_family", "eligible": "true_eligible", "headlines": "true_headlines"})
    joined = candidates.merge(mapping, on="family_id", how="left").fillna("")
    joined = joined.merge(truth, on="true_family", how="left").fillna("")
    hub_eligible = joined[joined["eligible"] == "true"]
    hits = hub_eligible[hub_eligible["true_eligible"] == "true"]
    same = (hits["headlines"].str.split(";").map(frozenset)
            == hits["true_headlines"].str.split(";").map(frozenset)).sum()
    return FamilyScore(
        hub_families=len(candidates),
        truth_families=len(truth),
        hub_eligible=len(hub_eligible),
        truth_eligible=int((truth["true_eligible"] == "true").sum()),
        true_positives=len(hits),
        found=hits["true_family"].nunique(),
        same_headlines=int(same),
    )


@dataclass(frozen=True)
class RefreshScore:
    families_in_both: int  # true families matched by a hub family in both runs
    kept_family_id: int
    changes: dict[str, tuple[int, int, int]]  # change -> (hub rows matched to truth, hub rows, truth rows)

    @property
    def kept_share(self) -> float:
        return self.kept_family_id / self.families_in_both if self.families_in_both else 1.0

    def precision(self, change: str) -> float:
        matched, hub, _ = self.changes.get(change, (0, 0, 0))
        return matched / hub if hub else 1.0

    def recall(self, change: str) -> float:
        matched, _, truth = self.changes.get(change, (0, 0, 0))
        return matched / truth if truth else 1.0


def score_refresh(run_a: str | Path, run_b: str | Path, truth_a: str | Path, truth_b: str | Path,
                  truth_changes: str | Path) -> RefreshScore:
    """Did families keep their ids from run A to run B, and does ``changes.csv`` (in run B)
    say what truth says changed (``truth_changes.csv`` of ``generate_quarters``)?

    A hub change row counts as matched when the true family of its hub family (run B's
    mapping; run A's for a family absent from run B) has the same change in truth."""
    run_a, run_b = Path(run_a), Path(run_b)
    map_a = family_truth_map(run_a, Path(truth_a))
    map_b = family_truth_map(run_b, Path(truth_b))
    map_a, map_b = map_a[map_a["true_family"] != ""], map_b[map_b["true_family"] != ""]
    # a true family is followed through the hub family holding most of its members
    first_a = map_a.drop_duplicates("true_family")
    first_b = map_b.drop_duplicates("true_family")
    both = first_a.merge(first_b, on="true_family", suffixes=("_a", "_b"))
    kept = int((both["family_id_a"] == both["family_id_b"]).sum())
    hub = _read(run_b / "changes.csv")
    truth = _read(Path(truth_changes))
    to_true = dict(zip(map_b["family_id"], map_b["true_family"], strict=True))
    to_true_a = dict(zip(map_a["family_id"], map_a["true_family"], strict=True))
    hub["true_family"] = [to_true.get(f) or to_true_a.get(f, "") for f in hub["family_id"]]
    changes = {}
    for change in ("entered", "left", "headlines_changed"):
        h = hub[hub["change"] == change]
        t = set(truth.loc[truth["change"] == change, "family_id"])
        changes[change] = (int(h["true_family"].isin(t).sum()), len(h), len(t))
    return RefreshScore(len(both), kept, changes)
