"""Corpus adapters."""
