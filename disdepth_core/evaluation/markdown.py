"""Markdown tables for the evaluation reports."""

from __future__ import annotations


def md_table(rows: list[tuple], header: tuple) -> list[str]:
    """Lines of a markdown table: ``header`` then one line per row (values through ``str``)."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
