"""`plan init` on data no run could use says why and writes no plan; on data usable after a stated edit (or read
with guessed options) it writes a plan whose notes say what to check."""

from __future__ import annotations

import polars as pl
import pytest

from hybrid_data.plan import load_plan
from hybrid_data.source import SourceError, load_real_source
from hybrid_data.starter_plan import write_starter_plan

from .inputs_data import HEADER, good_lines, rows, write_csv_text


def _init(folder, lines, target="Class", encoding="utf8", printed=None):
    source = write_csv_text(folder, lines, encoding=encoding)
    say = printed.append if printed is not None else lambda _: None
    return write_starter_plan(source, target, folder / "plan.yaml", say=say)


UNUSABLE = {
    "an empty file gets no plan and says it is empty": ([], "Class", "real.csv is empty (0 bytes)"),
    "a header-only file gets no plan and says it has no rows": (
        [HEADER],
        "Class",
        "real.csv has a header (4 columns) but no data rows",
    ),
    "a file with only the target column gets no plan": (
        ["Class", *[line.rsplit(",", 1)[1] for line in rows()]],
        "Class",
        "only the target column 'Class'; a model needs at least one other column",
    ),
    "a single-class target gets no plan": (
        [line.replace(",bad", ",good") for line in good_lines()],
        "Class",
        "target 'Class' has a single class; a model needs two",
    ),
    "too few rows get no plan and name checks.min_rows": (
        good_lines(12),
        "Class",
        "the source has 12 rows with a target; a run needs at least 20 (checks.min_rows)",
    ),
    "a ragged file gets no plan and names the line": (
        [*good_lines()[:5], "1,2,3,4,5", *good_lines()[5:]],
        "Class",
        "line 6 has 5 field(s) where the header has 4",
    ),
    "an absent target gets no plan and lists the columns": (
        good_lines(),
        "label",
        "no column 'label' (columns: amount, region, rate, Class); give --target",
    ),
    "infinite values get no plan and name the column": (
        [good_lines()[0], good_lines()[1].replace("0.050", "inf"), *good_lines()[2:]],
        "Class",
        "has infinite values in column(s) 'rate'",
    ),
    "a file whose every feature would be dropped gets no plan": (
        ["id,const,Class", *[f"{i},x,{'bad' if i % 4 == 0 else 'good'}" for i in range(40)]],
        "Class",
        "every column besides the target would be dropped",
    ),
}


@pytest.mark.parametrize("case", list(UNUSABLE), ids=list(UNUSABLE))
def test_plan_init_on_unusable_data_says_why_and_writes_no_plan(case, tmp_path):
    """Data no run could use gets a message saying why, and no plan file."""
    lines, target, expected = UNUSABLE[case]
    with pytest.raises(SourceError) as error:
        _init(tmp_path, lines, target)
    assert expected in str(error.value)
    assert not (tmp_path / "plan.yaml").exists()


def test_plan_init_on_latin1_writes_the_encoding_and_says_to_check_it(tmp_path):
    """A latin-1 file gets a plan with source.encoding set and a note naming the first non-UTF-8 line; the plan
    then reads the accents back."""
    lines = list(good_lines())
    lines[3] = lines[3].replace("north", "Gen\xe8ve")
    printed: list[str] = []
    plan_file = _init(tmp_path, lines, encoding="latin-1", printed=printed)
    text = plan_file.read_text()
    assert 'encoding: "cp1252"' in text and "is not UTF-8 (line 4)" in text
    assert any("is not UTF-8 (line 4)" in line for line in printed)
    assert "Genève" in load_real_source(load_plan(plan_file)).frame["region"].to_list()


def test_plan_init_on_a_semicolon_file_writes_the_delimiter(tmp_path):
    """A ';'-separated file gets a plan with source.delimiter set, which then reads every column."""
    plan_file = _init(tmp_path, [line.replace(",", ";") for line in good_lines()])
    assert 'delimiter: ";"' in plan_file.read_text()
    assert load_real_source(load_plan(plan_file)).frame.columns == ["amount", "region", "rate", "Class"]


def test_plan_init_states_a_class_too_rare_to_score(tmp_path):
    """A class too rare for the holdout to score gets a plan whose note says so and which keys to change."""
    lines = [*good_lines(120), "999,north,0.1,rare", "998,south,0.2,rare"]
    text = _init(tmp_path, lines).read_text()
    assert "# Note: class 'rare' has 2 rows: a holdout of 0.2 gets about 0, below checks.min_class_rows=5" in text
    assert "raise holdout.fraction" in text


def test_plan_init_keeps_odd_column_names_loadable(tmp_path):
    """SQL keywords, leading digits, quotes and unicode in names survive into a plan that loads and reads them."""
    names = ["select", "1st", 'say "hi"', "Größe (€)"]
    data = pl.DataFrame({n: [float(i % 7 + k) for i in range(40)] for k, n in enumerate(names)})
    data = data.with_columns(pl.Series("order", ["bad" if i % 4 == 0 else "good" for i in range(40)]))
    source = tmp_path / "odd.csv"
    data.write_csv(source)
    plan = load_plan(write_starter_plan(source, "order", tmp_path / "plan.yaml", say=lambda _: None))
    assert load_real_source(plan).frame.columns == data.columns


def test_plan_init_raises_a_small_holdout_fraction_and_says_why(tmp_path):
    """A small regression table gets a larger holdout.fraction (so the split can be scored) and a note saying why."""
    lines = ["x,y", *[f"{i},{i * 1.37:.2f}" for i in range(100)]]
    plan_file = _init(tmp_path, lines, target="y")
    text = plan_file.read_text()
    assert "holdout.fraction is 0.3, not 0.2: with 100 distinct rows" in text
    assert load_plan(plan_file).holdout.fraction == 0.3
