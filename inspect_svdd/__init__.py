"""inspect-svdd: Deep SVDD visual inspection."""

__version__ = "0.1.0"
