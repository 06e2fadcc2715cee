"""warehouse.duckdb: views over the lake for people to browse with any DuckDB client."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from hybrid_data.lake import Lake


def refresh_views(lake: Lake, warehouse: Path, attempts: int = 5) -> list[str]:
    """One view per asset in the lake, partitions as hive columns. Retries while another process holds the file."""
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
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    return assets
