"""Each benchmark owns one section of a docs page, between its start and end markers."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) into ``path``.

    An existing section between the markers is replaced; otherwise it is appended.
    """
    text = path.read_text()
    first, last = text.find(start), text.find(end)
    if first >= 0 and last > first:
        text = text[:first] + section + text[last + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
