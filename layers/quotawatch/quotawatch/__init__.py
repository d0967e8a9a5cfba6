"""QuotaWatch: know before a paid API runs out."""

__version__ = "0.1.0"
