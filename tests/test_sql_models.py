"""SQL models: dependencies and lineage read from the SQL, load-time errors, and what a run materializes."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.ingest import real_source
from assets.resources import HybridDataSettings, LakeIOManager
from assets.sql_models import build_sql_assets
from hybrid_data.lake import Lake
from hybrid_data.sql_docs import UNTRACED
from hybrid_data.sql_models import (
    DEFAULT_SQL_DIR,
    SqlModelError,
    column_lineage,
    discover_models,
    parse_model,
    parse_statement,
    run_model,
    table_references,
)
from tests.conftest import write_plan

VARIABLES = {"holdout_fraction": 0.25, "split_seed": "7", "split_key": [], "target": "Class"}


def models_in(folder: Path, files: dict[str, str], known: set[str] | None = None):
    for name, sql in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    return {m.name: m for m in discover_models(folder, known if known is not None else {"real_source"})}


def refs(sql: str) -> set[str]:
    return set(table_references(parse_statement(sql, Path("m.sql")), Path("m.sql")))


# --- dependencies -------------------------------------------------------------------------------------------


def test_cte_shadowing_a_model_name_is_not_a_dependency_but_what_it_reads_is():
    assert refs("WITH stg_real AS (SELECT * FROM real_source) SELECT * FROM stg_real") == {"real_source"}
    # a non-recursive CTE reading its own name reads the outer table
    assert refs("WITH stg_real AS (SELECT * FROM stg_real WHERE x > 1) SELECT * FROM stg_real") == {"stg_real"}


def test_joins_subqueries_and_set_operations_are_followed():
    sql = """
        SELECT a.x FROM a JOIN (SELECT * FROM b) AS sub ON sub.x = a.x
        LEFT JOIN LATERAL (SELECT * FROM c) AS l ON true
        WHERE a.x IN (SELECT x FROM d) AND EXISTS (SELECT 1 FROM e)
        UNION ALL SELECT x FROM f
    """
    assert refs(sql) == {"a", "b", "c", "d", "e", "f"}


def test_quoted_names_keep_spaces_dots_and_unicode_and_table_functions_are_not_tables():
    sql = 'SELECT * FROM "my table", "a.b", "Größe", range(3) r, read_parquet(\'x.parquet\') p, unnest([1]) u'
    assert refs(sql) == {"my table", "a.b", "Größe"}


def test_references_resolve_case_insensitively_and_quoted(tmp_path: Path):
    models = models_in(
        tmp_path,
        {
            "staging/stg.sql": "SELECT * FROM REAL_SOURCE",
            "marts/wide.sql": 'WITH stg AS (SELECT 1 AS x) SELECT * FROM "stg" JOIN "Stg" ON true',
            "marts/narrow.sql": 'SELECT s.* FROM "stg" AS s WHERE x IN (SELECT x FROM wide)',
        },
    )
    assert models["stg"].deps == ("real_source",)
    assert models["wide"].deps == ()  # both references are the CTE, not the model
    assert models["narrow"].deps == ("stg", "wide")
    assert (models["stg"].group, models["narrow"].group) == ("staging", "marts")
    assert list(models)[:1] == ["stg"]  # dependency order


def test_header_gives_description_and_materialization(tmp_path: Path):
    path = tmp_path / "v.sql"
    path.write_text("-- Loans by state.\n-- materialized: view\n--\n-- Used by the mart.\nSELECT 1 AS x\n")
    model = parse_model(path, tmp_path)
    assert (model.description, model.materialized) == ("Loans by state. Used by the mart.", "view")


# --- load-time errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.sql": "SELECT * FROM b", "b.sql": "SELECT * FROM c", "c.sql": "SELECT * FROM a"}, "cycle"),
        ({"a.sql": "SELECT 1 AS x\nFROM real_source\nJOIN\n  nope ON true"}, r"a.sql:4: unknown table 'nope'"),
        ({"a.sql": 'SELECT * FROM "weird name"'}, "unknown table 'weird name'"),
        ({"a.sql": "-- header\nSELECT *\nFROM real_source WHERE (\n"}, r"a.sql:3: SQL syntax error"),
        ({"x/a.sql": "SELECT 1 AS x", "y/a.sql": "SELECT 2 AS x"}, "two SQL models are named 'a'"),
        ({"a.sql": "SELECT 1 AS x;\n\nSELECT 2 AS x;"}, r"a.sql:3: a model holds exactly one SELECT, found 2"),
        ({"a.sql": "CREATE TABLE t AS SELECT 1"}, "found a CREATE statement"),
        ({"a.sql": "-- materialized: ephemeral\nSELECT 1"}, r"a.sql:1: materialized must be one of table, view"),
        ({"a.sql": "SELECT * FROM a"}, "reads itself"),
        ({"my model.sql": "SELECT 1"}, "cannot be an asset name"),
        ({"real_source.sql": "SELECT 1"}, "already a Python asset"),
        ({"a.sql": "SELECT * FROM other_db.real_source"}, "qualified name"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, files: dict[str, str], message: str):
    with pytest.raises(SqlModelError, match=message) as raised:
        models_in(tmp_path, files)
    assert str(tmp_path) in str(raised.value)


def test_build_sql_assets_raises_the_load_error(tmp_path: Path):
    (tmp_path / "bad.sql").write_text("SELECT * FROM missing_table")
    with pytest.raises(SqlModelError, match="bad.sql:1: unknown table 'missing_table'"):
        build_sql_assets(tmp_path)


# --- column lineage -----------------------------------------------------------------------------------------


def test_lineage_follows_renames_expressions_joins_and_ctes(tmp_path: Path):
    models = models_in(
        tmp_path,
        {
            "a.sql": "SELECT 1 AS id",
            "b.sql": "SELECT 1 AS id",
            "m.sql": """
                WITH amounts AS (SELECT id, "Funded Amount" * 2 AS doubled FROM a)
                SELECT
                    amounts.id AS loan_id,
                    doubled + b.fee AS cost,
                    upper(b.State) AS "Größe",
                    'constant' AS label
                FROM amounts JOIN b USING (id)
            """,
        },
        known=set(),
    )
    schemas = {"a": {"id": "INT", "Funded Amount": "DOUBLE"}, "b": {"id": "INT", "fee": "DOUBLE", "State": "VARCHAR"}}
    lineage = column_lineage(models["m"], schemas, ["loan_id", "cost", "Größe", "label"])
    assert lineage == {
        "loan_id": [("a", "id")],
        "cost": [("a", "Funded Amount"), ("b", "fee")],
        "Größe": [("b", "State")],
        "label": [],
    }


def test_lineage_expands_select_star_with_the_upstream_schema(tmp_path: Path):
    models = models_in(tmp_path, {"m.sql": "SELECT * EXCLUDE (drop_me) FROM real_source"})
    schemas = {"real_source": {"Class": "VARCHAR", "amount": "DOUBLE", "drop_me": "INT"}}
    assert column_lineage(models["m"], schemas, ["Class", "amount"]) == {
        "Class": [("real_source", "Class")],
        "amount": [("real_source", "amount")],
    }


# --- running ------------------------------------------------------------------------------------------------


def lake_with_source(folder: Path, frame: pl.DataFrame) -> Lake:
    lake = Lake(folder)
    lake.write_frame("real_source", None, frame)
    return lake


def run_bundled(folder: Path, source: pl.DataFrame, variables: dict) -> tuple[Lake, dict]:
    models = {m.name: m for m in discover_models(DEFAULT_SQL_DIR)}
    lake = lake_with_source(folder, source)
    runs = {model.name: run_model(model, lake, variables, models=models) for model in models.values()}
    return lake, runs


def test_bundled_models_stage_and_split_the_real_rows(tmp_path: Path, tiny_csv: Path):
    source = pl.read_csv(tiny_csv)
    blank = pl.DataFrame({c: [None] for c in source.columns}, schema=source.schema).with_columns(
        pl.lit("bad").alias("Class")
    )
    dirty = pl.concat([source, source.head(3), blank])
    stored, runs = run_bundled(tmp_path / "lake", dirty, VARIABLES)
    assert runs["stg_real_usable"].rows == dirty.height - 1  # the blank row
    assert runs["stg_real"].rows == source.unique().height  # duplicates gone
    assert set(stored.read_frame("real_split").columns) - set(source.columns) == {
        "_split_hash",
        "_row_digest",
        "_in_holdout",
    }
    train, holdout = stored.read_frame("real_train"), stored.read_frame("real_holdout")
    assert train.schema == source.schema and holdout.schema == source.schema  # no helper columns
    assert train.height + holdout.height == source.unique().height
    assert train.join(holdout, on=source.columns, how="inner", nulls_equal=True).height == 0
    assert 0.15 < holdout.height / source.unique().height < 0.35
    # deterministic: reordered input, same split and same order
    stored2, _ = run_bundled(tmp_path / "lake2", dirty.reverse(), VARIABLES)
    assert stored2.read_frame("real_train").equals(train)
    # another seed, another split
    stored3, _ = run_bundled(tmp_path / "lake3", dirty, {**VARIABLES, "split_seed": "8"})
    assert not stored3.read_frame("real_holdout").equals(holdout)


def test_split_by_key_columns_keeps_a_key_on_one_side(tmp_path: Path, tiny_csv: Path):
    source = pl.read_csv(tiny_csv)
    stored, _ = run_bundled(tmp_path, source, {**VARIABLES, "split_key": ["addr_state"]})
    train, holdout = stored.read_frame("real_train"), stored.read_frame("real_holdout")
    assert holdout.height > 0
    assert not set(train["addr_state"]) & set(holdout["addr_state"])


def test_run_time_failure_names_the_file_and_keeps_the_last_good_output(tmp_path: Path, tiny_csv: Path):
    models = models_in(tmp_path / "sql", {"m.sql": "SELECT CAST(Class AS INTEGER) AS c FROM real_source"})
    stored = lake_with_source(tmp_path / "lake", pl.read_csv(tiny_csv))
    stored.write_frame("m", None, pl.DataFrame({"c": [1]}))
    with pytest.raises(SqlModelError, match=r"m\.sql: DuckDB failed: Conversion Error"):
        run_model(models["m"], stored, VARIABLES)
    assert stored.read_frame("m")["c"].to_list() == [1]
    assert sorted(p.name for p in (tmp_path / "lake" / "m").iterdir()) == ["data.parquet", "data.parquet.receipt.json"]


# --- as Dagster assets --------------------------------------------------------------------------------------


def test_a_new_file_is_an_asset_with_its_deps_and_materializes_with_lineage(
    tmp_path: Path, tiny_csv: Path, home, instance
):
    sql = tmp_path / "sql"
    models_in(
        sql,
        {
            "staging/stg.sql": "-- Staged loans.\n-- materialized: view\n"
            "SELECT *, int_rate / 100 AS rate FROM real_source",
            "marts/by_grade.sql": "SELECT sub_grade AS grade, avg(rate) AS mean_rate, count(*) AS n\n"
            "FROM stg GROUP BY 1",
        },
    )
    sql_assets = build_sql_assets(sql, known_assets={"real_source"})
    by_key = {a.key.to_user_string(): a for a in sql_assets}
    assert set(by_key) == {"stg", "by_grade"}
    assert {k.to_user_string() for k in by_key["by_grade"].asset_deps[dg.AssetKey("by_grade")]} == {"stg"}
    assert by_key["stg"].group_names_by_key[dg.AssetKey("stg")] == "staging"
    assert by_key["stg"].descriptions_by_key[dg.AssetKey("stg")] == "Staged loans."

    plan = write_plan(tmp_path, tiny_csv)
    resources = {
        "settings": HybridDataSettings(plan_path=str(plan), home=str(home.root)),
        "io_manager": LakeIOManager(lake_root=str(home.lake)),
    }
    result = dg.materialize([real_source, *sql_assets], resources=resources, instance=instance)
    assert result.success
    metadata = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("by_grade")}[
        "by_grade"
    ]
    assert metadata["dagster/row_count"].value == pl.read_csv(tiny_csv)["sub_grade"].n_unique()
    assert [c.name for c in metadata["dagster/column_schema"].value.columns] == ["grade", "mean_rate", "n"]
    lineage = metadata["dagster/column_lineage"].value.deps_by_column
    assert [(d.asset_key.to_user_string(), d.column_name) for d in lineage["mean_rate"]] == [("stg", "rate")]
    stg_lineage = result.asset_materializations_for_node("stg")[0].metadata["dagster/column_lineage"].value
    assert [d.column_name for d in stg_lineage.deps_by_column["rate"]] == ["int_rate"]
    assert stg_lineage.deps_by_column["Class"][0].asset_key == dg.AssetKey("real_source")  # SELECT * expanded
    assert (home.lake / "by_grade" / "data.parquet").exists()
    assert not (home.lake / "stg").exists()  # a view is recomputed by its readers, not stored


def test_trailing_comments_and_semicolon_do_not_break_the_run(tmp_path: Path, tiny_csv: Path):
    models = models_in(
        tmp_path / "sql",
        {
            "v.sql": "-- materialized: view\nSELECT Class FROM real_source -- the target\n",
            "t.sql": "SELECT count(*) AS n FROM v; -- one row\n",
        },
    )
    stored = lake_with_source(tmp_path / "lake", pl.read_csv(tiny_csv))
    run = run_model(models["t"], stored, VARIABLES, models=models)
    assert (run.rows, run.input_rows) == (1, {"v": 400})
    assert stored.read_frame("t")["n"].to_list() == [400]


@pytest.mark.slow
def test_bundled_models_show_lineage_descriptions_and_routed_rows_in_open_source_dagster(
    tmp_path: Path, tiny_csv: Path, home, instance
):
    """What the OSS UI shows: lineage as a Markdown table, column descriptions from the SQL's comments and the
    plan's types, and real_train's held-out rows reported as routed to real_holdout, not as dropped."""
    plan = write_plan(tmp_path, tiny_csv)
    resources = {
        "settings": HybridDataSettings(plan_path=str(plan), home=str(home.root)),
        "io_manager": LakeIOManager(lake_root=str(home.lake)),
    }
    result = dg.materialize([real_source, *build_sql_assets(DEFAULT_SQL_DIR)], resources=resources, instance=instance)
    assert result.success
    metadata = {
        m.asset_key.to_user_string(): m.metadata
        for node in ("real_train", "real_holdout", "real_split", "stg_real")
        for m in result.asset_materializations_for_node(node)
    }
    train, holdout = metadata["real_train"], metadata["real_holdout"]
    assert "rows_dropped" not in train and train["other_rows_go_to"].value == "real_holdout"
    assert holdout["other_rows_go_to"].value == "real_train"
    assert train["rows_in/real_split"].value == train["dagster/row_count"].value + holdout["dagster/row_count"].value
    assert metadata["stg_real"]["rows_dropped"].value == 0  # no duplicate rows in the tiny data

    table = train["column_lineage"].value
    assert table.splitlines()[0] == "| output column | <- input columns |"
    assert "| `Class` | `real_split.Class` |" in table
    assert f"| `_in_holdout` | {UNTRACED} |" in metadata["real_split"]["column_lineage"].value  # COLUMNS(lambda)

    described = {c.name: c.description for c in train["dagster/column_schema"].value.columns}
    assert described["Class"].startswith("categorical: binary target")
    assert described["int_rate"].startswith("numeric")
    split = {c.name: c.description for c in metadata["real_split"]["dagster/column_schema"].value.columns}
    assert "real_holdout" in split["_in_holdout"] and "hash" in split["_row_digest"]
