"""Spreadsheet cells that are safe to open in Excel or WPS (formula injection, OWASP "CSV
Injection").

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula when the file is opened (``=cmd|' /C calc'!A0``), and openpyxl itself writes such a
string as a formula. Every XLSX/CSV the project writes passes its cells through
:func:`safe_cell`, which prefixes them with ``'`` as OWASP advises; imports undo that prefix
(:func:`unquote_cell`) and refuse what still looks like a formula (:func:`formula_like`).
"""
from __future__ import annotations

from typing import Any, Iterable

#: First characters that make a spreadsheet treat text as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` ready for a spreadsheet cell: a ``str`` starting with one of
    :data:`FORMULA_START` gets a leading ``'``; anything else (numbers, negative ones too,
    dates, None, other text) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """One spreadsheet row with :func:`safe_cell` applied to every cell."""
    return [safe_cell(v) for v in values]


def unquote_cell(text: str) -> str:
    """Undo :func:`safe_cell` on imported text: ``'=x`` -> ``=x`` (a file we exported comes
    back as it was); other text unchanged."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def formula_like(text: str) -> bool:
    """True when imported ``text`` would run as a formula: it starts with ``=`` or ``@`` (or a
    tab/CR), or with ``+``/``-`` and is neither a number (``-3``, ``+1.5``) nor only signs
    (``-`` as "none")."""
    if not text or not text.startswith(FORMULA_START):
        return False
    if text[0] in "+-":
        if not text.strip("+-"):
            return False
        try:
            float(text)
            return False
        except ValueError:
            return True
    return True
