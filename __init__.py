"""SimMemRE: similarity-based memory enhanced joint entity and relation extraction for transformers."""

__version__ = "0.1.0"
