"""Taxpayer-facing texts: one folder per language (``messages.yaml`` and ``*.j2``)."""
