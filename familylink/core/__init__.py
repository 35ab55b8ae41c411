"""Shared kernel: errors, contract names, fingerprints. Standard library only."""
