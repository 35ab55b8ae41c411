"""Families, eligibility frameworks, scoring and the candidate list.

Built in the identification issue; it never imports ``matching`` (they exchange DuckDB
tables whose names are declared in familylink.core).
"""
