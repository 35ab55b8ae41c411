"""Provider and intake side: agreements, normalisation, keys, encoders, sealed extracts.

A provider installs only this package's dependencies' subset; it never imports duckdb or
splink.
"""
