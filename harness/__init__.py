"""Embedding benchmark harness: models x tasks x indexes -> one result file per job."""
__version__ = "0.1.0"
