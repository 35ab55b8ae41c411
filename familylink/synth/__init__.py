"""Synthetic county generator: a population of households, the seven providers' raw
extracts with realistic recording errors, and the truth to score linkage and eligibility.

    from familylink.synth import generate_county, CorruptionSettings, SynthSummary
    summary = generate_county(20_000, seed=1, reference_date=date(2024, 3, 31), out_dir=Path("county"))
"""

from familylink.synth.generator import generate_county
from familylink.synth.settings import CorruptionSettings, SynthError, SynthSummary

__all__ = ["CorruptionSettings", "SynthError", "SynthSummary", "generate_county"]
