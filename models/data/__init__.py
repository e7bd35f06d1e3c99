"""Seed data shipped with the code: service points (CSV) and directory synonyms (JSON)."""
