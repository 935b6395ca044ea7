"""MovieLens file-format helpers shared by the importer and the offline evaluation."""

from __future__ import annotations

import re

_YEAR_RE = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE_RE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)$")


def split_title(raw: str) -> tuple[str, int | None]:
    """'American President, The (1995)' -> ('The American President', 1995)."""
    raw = raw.strip()
    year = None
    match = _YEAR_RE.search(raw)
    if match:
        year = int(match.group(1))
        raw = raw[: match.start()].strip()
    article = _ARTICLE_RE.match(raw)
    if article:
        sep = "" if article.group(2).endswith("'") else " "
        raw = f"{article.group(2)}{sep}{article.group(1)}"
    return raw, year
