"""The reliability document stays true to the tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "reliability_table.py"


def test_committed_reliability_doc_matches_the_tests():
    """docs/reliability.md is exactly what scripts/reliability_table.py generates from tests/reliability/ now."""
    spec = importlib.util.spec_from_file_location("reliability_table", SCRIPT)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.DOC.exists(), "docs/reliability.md is missing: run python scripts/reliability_table.py"
    assert table.DOC.read_text() == table.render(), (
        "docs/reliability.md is out of date with tests/reliability/: run python scripts/reliability_table.py"
    )
