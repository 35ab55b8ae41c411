"""Person and household linkage on sealed extracts (the only package that imports splink).

Built in the linkage issue; it reads sealed extracts through ``protocols.sealed`` and
exchanges DuckDB tables with ``identification`` through names declared in familylink.core.
"""
