"""The `hybrid-data` command and where the Dagster code location lives.

The code location (`definitions.py`, `assets/`, `checks/`, `dbt_like_sql/`, `workspace.yaml`) sits at the top of a
checkout. An installed wheel ships it inside this package (`hybrid_data_dagster/code_location/`), off the default
import path, so its generic module names (`assets`, `checks`, `definitions`) cannot collide with another
project's: only hybrid-data's own processes (this CLI, and the code server and run workers it starts, through
`workspace.yaml`'s working directory) put that folder on `sys.path`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def code_location_dir() -> Path:
    """The folder holding definitions.py: the checkout's root, or the installed copy inside this package."""
    checkout = _PACKAGE.parent
    if (checkout / "definitions.py").exists() and (checkout / "assets").is_dir():
        return checkout
    return _PACKAGE / "code_location"


def use_code_location() -> Path:
    """Put the code location on this process's import path (and its children's, through PYTHONPATH)."""
    folder = str(code_location_dir())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if folder not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([folder, *parts])
    return Path(folder)
