"""warehouse.duckdb: views over the lake for people to browse with any DuckDB client."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from hybrid_data.lake import Lake

_LOG = logging.getLogger(__name__)


def refresh_views(lake: Lake, warehouse: Path, attempts: int = 5) -> list[str]:
    """One view per asset in the lake, partitions as hive columns; returns the assets given a view. Retries while
    another process holds the file; when it still holds it (the duckdb CLI left open on it), the views are left as
    they are with a warning: browse views are a convenience, never a reason for a good run to fail."""
    assets = lake.assets()
    for attempt in range(attempts):
        try:
            with duckdb.connect(str(warehouse)) as con:
                lake.register_with(con)
                for asset in assets:
                    pattern = lake.frame_glob(asset).replace("'", "''")
                    con.execute(
                        f'CREATE OR REPLACE VIEW "{asset}" AS '
                        f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
                    )
            return assets
        except duckdb.IOException as exc:
            if attempt == attempts - 1:
                _LOG.warning(
                    f"{warehouse} is held by another process ({exc}); its browse views were not refreshed: close "
                    "the other DuckDB client and rerun, the lake itself is up to date"
                )
                return []
            time.sleep(0.5 * (attempt + 1))
    return assets
