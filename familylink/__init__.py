"""familylink: privacy-preserving data matching and family identification."""

__version__ = "0.1.0"
