"""Linkage quality by group on a synthetic county with truth: name origin (the community the
synth drew the person's names from), age band, sex and source pair.

Pairwise over records: a true pair is two records of one person, a predicted pair two records
given one person id. A pair belongs to the group of its true person (name origin, age band,
sex: both records are that person) or, for predicted pairs, of the first record's person; by
source pair, to the two sources' names in order. Used by ``benchmarks/bench_groups.py`` and by
``tests/test_linkage.py`` (no group's F1 more than 0.02 below the whole county's).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
from febrl.score import Scores

AGE_BANDS = ((0, 4, "0-4"), (5, 15, "5-15"), (16, 24, "16-24"), (25, 44, "25-44"), (45, 64, "45-64"),
             (65, 200, "65+"))


@dataclass(frozen=True)
class GroupScore(Scores):
    """Pairwise precision, recall and F1 (``febrl.score.Scores``) of one group."""

    dimension: str = ""
    group: str = ""


def person_groups(truth_dir, people: int, seed: int, reference_date: dt.date) -> pd.DataFrame:
    """person_id -> community, age band, sex (the community re-drawn with the synth's own
    population stage: the truth files do not carry it)."""
    from familylink.synth.population import build_population
    from familylink.synth.settings import stage_rng

    population = build_population(stage_rng(seed, "population"), people, reference_date, None,
                                  stage_rng(seed, "shape:population"))
    persons = population.persons
    community = population.households.set_index("household")["community"]
    frame = pd.DataFrame({"person_id": persons["person_id"].to_numpy(),
                          "community": community.reindex(persons["household"].to_numpy()).to_numpy()})
    truth = pd.read_csv(truth_dir / "persons.csv", dtype={"person_id": str, "sex": str, "age": int})
    frame = frame.merge(truth[["person_id", "sex", "age"]], on="person_id", how="inner", validate="one_to_one")
    frame["age_band"] = [next(label for low, high, label in AGE_BANDS if low <= a <= high) for a in frame["age"]]
    return frame.set_index("person_id")


def group_scores(records: dict[tuple[str, str], str], linked: dict[tuple[str, str], str],
                 groups: pd.DataFrame) -> list[GroupScore]:
    """``records``: (source, record_id) -> true person; ``linked``: (source, record_id) -> our
    person id. Scores per name origin, age band, sex and source pair, plus "all"."""
    attrs = {p: (row.community, row.age_band, row.sex) for p, row in groups.iterrows()}
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(keys, index):
        for key in keys:
            counts[key][index] += 1

    def keys_for(person: str, a: tuple[str, str], b: tuple[str, str]):
        community, band, sex = attrs.get(person, ("unknown", "unknown", "unknown"))
        pair = "|".join(sorted((a[0], b[0])))
        return [("all", "all"), ("name origin", community), ("age band", band), ("sex", sex), ("source pair", pair)]

    by_true: dict[str, list] = defaultdict(list)
    by_ours: dict[str, list] = defaultdict(list)
    for record, person in records.items():
        by_true[person].append(record)
        if record in linked:
            by_ours[linked[record]].append(record)
    for person, members in by_true.items():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                keys = keys_for(person, a, b)
                add(keys, 0)
                if linked.get(a) is not None and linked.get(a) == linked.get(b):
                    add(keys, 2)
    for members in by_ours.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                add(keys_for(records[a], a, b), 1)
    return [GroupScore(*v, dimension=d, group=g) for (d, g), v in sorted(counts.items())]
