"""The lake on an S3-compatible store (moto's server on a loopback port; no other service needed): the SQL models
stage and split the real rows straight from the bucket, and the warehouse's views read it, the same as on disk."""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import polars as pl
import pytest

from hybrid_data import deployment
from hybrid_data.home import Home
from hybrid_data.lake import Lake
from hybrid_data.sql_models import DEFAULT_SQL_DIR, discover_models, run_model
from hybrid_data.warehouse import refresh_views
from tests.conftest import tiny_frame

VARIABLES = {"holdout_fraction": 0.25, "split_seed": "7", "split_key": [], "target": "Class"}


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch):
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the cluster extra")
    import boto3

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    import s3fs

    # fsspec caches file-system instances by their options, not by the endpoint in the environment: a cached one
    # from an earlier test (another moto server, now stopped) would be reused.
    s3fs.S3FileSystem.clear_instance_cache()
    boto3.client("s3").create_bucket(Bucket="hybrid-lake")
    yield boto3.client("s3")
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def test_the_lake_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path)
    monkeypatch.delenv(deployment.LAKE_ENV, raising=False)
    assert home.open_lake() == Lake(tmp_path / "lake")
    monkeypatch.setenv(deployment.LAKE_ENV, "s3://hybrid-lake/team-a/lake")
    assert str(home.open_lake().root) == "s3://hybrid-lake/team-a/lake"


@pytest.mark.slow
def test_sql_models_and_warehouse_run_on_a_lake_in_a_bucket(tmp_path: Path, bucket) -> None:
    source = tiny_frame()
    on_disk, in_bucket = Lake(tmp_path / "lake"), Lake("s3://hybrid-lake/lake")
    models = {m.name: m for m in discover_models(DEFAULT_SQL_DIR)}
    for lake in (on_disk, in_bucket):
        lake.write_frame("real_source", None, source)
        runs = {name: run_model(model, lake, VARIABLES, models=models) for name, model in models.items()}
        assert runs["real_train"].rows + runs["real_holdout"].rows == source.unique().height

    # The same split from the bucket as from disk, published there as complete objects with their receipts.
    for asset in ("real_train", "real_holdout"):
        assert in_bucket.read_frame(asset).equals(on_disk.read_frame(asset))
    keys = {o["Key"] for o in bucket.list_objects_v2(Bucket="hybrid-lake")["Contents"]}
    assert {"lake/real_train/data.parquet", "lake/real_train/data.parquet.receipt.json"} <= keys
    assert not [k for k in keys if ".tmp" in k], "nothing staged under a temporary name on the store"

    # polars reads the objects directly; DuckDB through the lake's file system (its own S3 needs a download).
    assert pl.read_parquet(in_bucket.uri("real_train")).height == runs["real_train"].rows
    warehouse = tmp_path / "warehouse.duckdb"
    assert "real_train" in refresh_views(in_bucket, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        in_bucket.register_with(con)
        assert con.execute("SELECT count(*) FROM real_train").fetchone()[0] == runs["real_train"].rows
