"""Paths to recorded carbon-intensity data for provider tests (see tests/fixtures/carbon/README.md)."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "carbon"
# The traces every test relies on ship with the repository.
REPO_CARBON_DIR = REPO_ROOT / "zones" / "data"
# Optional extra: the full traces in their original layouts (``$PYLON_SHARED_DATA``, else a ``shared/``
# folder beside the checkout). Tests on them skip without it; the in-repo traces and excerpts cover the
# same parsers. repo-fallback: zones/data
SHARED_CARBON_DIR = Path(os.environ.get("PYLON_SHARED_DATA") or REPO_ROOT.parent / "shared") / "data" / "carbon"


@cache
def _load(name: str) -> Any:
    return json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))


def load_json(name: str) -> Any:
    """A fresh copy of a recorded response body, safe for a test to edit."""
    return copy.deepcopy(_load(name))
