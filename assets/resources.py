"""Resources: the run's pinned plan and the home folder, the lake IO manager, and MLflow tracking.

The plan, for assets, checks and sensors (other modules call only this):

    def my_asset(context, settings: HybridDataSettings, ...):
        plan = settings.plan                 # the run's plan, parsed once per step process, pinned for the run
        settings.plan_fingerprint            # its fingerprint (also the run tag `hybrid_data/plan_fingerprint`)
        settings.lake                        # the Lake (hybrid_data.lake): the only door to stored assets

    def my_sensor(context, settings: HybridDataSettings):
        pinned = settings.current_plan()     # the plan file as it is now (sensors watch edits); PinnedPlan
        tags = plan_tags(pinned)             # put these on every RunRequest, so the run uses exactly that plan

`settings.load_plan()` is kept as another name for `settings.plan`. Every step of one run sees the same plan even
when the file is edited mid-run or mid-backfill: launchers tag runs with the plan's fingerprint (see
hybrid_data/plan_snapshot.py), and runs launched without the tag are pinned by their first step.
"""

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

from hybrid_data.home import Home
from hybrid_data.lake import Lake
from hybrid_data.plan import Plan
from hybrid_data.plan_snapshot import PinnedPlan, plan_for_run, snapshot_plan

from .check_status import blocking_checks, dagster_settler
from .partitions import key_dims

PLAN_FINGERPRINT_TAG = "hybrid_data/plan_fingerprint"
PLAN_NAME_TAG = "hybrid_data/plan"
LAUNCHED_BY_TAG = "hybrid_data/launched_by"
EPHEMERAL_RUN_ID = "__EPHEMERAL_RUN_ID"  # Dagster's run id for an input that no step of this run produced


def plan_tags(pinned: PinnedPlan) -> dict[str, str]:
    """Run tags that pin a run to this plan (and show its name in the UI's run list)."""
    return {PLAN_FINGERPRINT_TAG: pinned.fingerprint, PLAN_NAME_TAG: pinned.plan.name}


class HybridDataSettings(dg.ConfigurableResource):
    """The blend plan (pinned per run) and the home folder every asset reads and writes under."""

    plan_path: str
    home: str
    _pinned: PinnedPlan | None = PrivateAttr(default=None)
    _run: tuple[str, str | None] | None = PrivateAttr(default=None)
    _settle = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if run is not None:
            self._run = (run.run_id, run.tags.get(PLAN_FINGERPRINT_TAG))
        if context.instance is not None:
            self._settle = dagster_settler(context.instance, context.log)

    @property
    def pinned(self) -> PinnedPlan:
        """Parsed on first use (a bad plan fails the step that needs it, with the plan's own message)."""
        if self._pinned is None:
            run_id, tagged = self._run or (None, None)  # outside a run (sensors, direct calls): the file now
            self._pinned = plan_for_run(self.plan_path, self.home_dir.root, run_id, tagged)
        return self._pinned

    @property
    def plan(self) -> Plan:
        return self.pinned.plan

    @property
    def plan_fingerprint(self) -> str:
        return self.pinned.fingerprint

    def load_plan(self) -> Plan:
        """The run's pinned plan (the same object as `plan`)."""
        return self.plan

    def current_plan(self) -> PinnedPlan:
        """The plan file as it is now, snapshotted: for sensors, which react to edits."""
        return snapshot_plan(self.plan_path, self.home_dir.root)

    @property
    def home_dir(self) -> Home:
        return Home(Path(self.home))

    @property
    def lake(self) -> Lake:
        """The lake as this run sees it: its own candidates, else the current versions (settled on first read)."""
        run_id = self._run[0] if self._run else None
        return Lake(self.home_dir.open_lake().root, run_id=run_id, settle=self._settle)


class MlflowTracking(dg.ConfigurableResource):
    """An MLflow tracking store: a SQLite file in the home folder by default, a tracking server in production."""

    tracking_uri: str
    artifact_root: str | None = None

    def experiment_id(self, name: str) -> str:
        from hybrid_data.tracking import experiment_id

        return experiment_id(self.tracking_uri, name, Path(self.artifact_root) if self.artifact_root else None)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores polars frames as Parquet and other values as pickles in the lake, one folder per partition.

    Not a `dagster.UPathIOManager`: that base class lays multi-partitions out as `<ratio>/<synth>` (dimensions by
    name) where DuckDB's hive partitioning wants `synth=<s>/ratio=<r>`, and it writes straight to the final path,
    where the Lake publishes (complete file, then its checksum receipt). The Lake itself is built on UPath, so
    the root can be an object store URL all the same."""

    lake_root: str

    @property
    def lake(self) -> Lake:
        return Lake(self.lake_root)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        """A version with blocking checks in this run is written as a candidate; one without is published."""
        if obj is None:
            return
        step = context.step_context
        awaiting = blocking_checks(step.job_def, step.dagster_run, context.asset_key)
        partition_key = context.asset_partition_key if context.has_partition_key else None
        dims = key_dims(partition_key, context.asset_partitions_def) if partition_key is not None else None
        lake = Lake(self.lake_root, run_id=context.run_id)
        name = context.asset_key.path[-1]
        write = lake.write_frame if isinstance(obj, pl.DataFrame) else lake.write_object
        write(name, dims, obj, awaiting=awaiting, partition_key=partition_key)
        context.add_output_metadata(
            {
                "lake_version": context.run_id,
                "lake_publication": f"current once blocking checks pass: {', '.join(awaiting)}"
                if awaiting
                else "current now (no blocking checks)",
            }
        )

    def load_input(self, context: dg.InputContext):
        """The partition's waiting candidates settled first; then the version the upstream step of this run wrote
        while undecided (what its checks judge), else the current one (downstream steps, which Dagster starts only
        once the blocking checks passed, find this run's version promoted)."""
        name = context.asset_key.path[-1]
        upstream = context.upstream_output
        run_id = upstream.run_id if upstream is not None and upstream.run_id != EPHEMERAL_RUN_ID else None
        lake = Lake(self.lake_root, run_id=run_id, settle=dagster_settler(context.instance, context.log))
        if not context.has_asset_partitions:
            return lake.read(name)
        partitions_def = context.asset_partitions_def
        keys = context.asset_partition_keys
        if len(keys) == 1:
            return lake.read(name, key_dims(keys[0], partitions_def))
        return {k: lake.read(name, key_dims(k, partitions_def)) for k in keys}
