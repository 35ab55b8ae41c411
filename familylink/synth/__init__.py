"""Synthetic county generator: a population of households, the seven providers' raw
extracts with realistic recording errors, and the truth to score linkage and eligibility.

    from familylink.synth import generate_county, CorruptionSettings, SynthSummary
    summary = generate_county(20_000, seed=1, reference_date=date(2024, 3, 31), out_dir=Path("county"))
    q1, q2 = generate_quarters(20_000, seed=1, first_reference_date=date(2024, 3, 31),
                               out_dir=Path("quarters"))  # quarters/q1, quarters/q2, truth_changes.csv
"""

from familylink.synth.generator import generate_county
from familylink.synth.quarters import generate_quarters
from familylink.synth.settings import CorruptionSettings, SynthError, SynthSummary

__all__ = [
    "CorruptionSettings",
    "SynthError",
    "SynthSummary",
    "generate_county",
    "generate_quarters",
]
