"""Resources: where the plan and home folder are, the lake IO manager, and MLflow tracking."""

from pathlib import Path

import dagster as dg
import polars as pl

from hybrid_data import lake
from hybrid_data.home import Home
from hybrid_data.plan import Plan, load_plan


class HybridDataSettings(dg.ConfigurableResource):
    """The blend plan and the home folder every asset reads and writes under."""

    plan_path: str
    home: str

    def load_plan(self) -> Plan:
        return load_plan(self.plan_path)

    @property
    def home_dir(self) -> Home:
        return Home(Path(self.home))


class MlflowTracking(dg.ConfigurableResource):
    """An MLflow tracking store: a SQLite file in the home folder by default, a tracking server in production."""

    tracking_uri: str
    artifact_root: str | None = None

    def experiment_id(self, name: str) -> str:
        from hybrid_data.tracking import experiment_id

        return experiment_id(self.tracking_uri, name, Path(self.artifact_root) if self.artifact_root else None)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores polars frames as Parquet and other values as pickles under the lake, one folder per partition."""

    lake_root: str

    def _folder(self, asset_key: dg.AssetKey, partition_key, partitions_def) -> Path:
        dims = None
        if isinstance(partitions_def, dg.MultiPartitionsDefinition) and isinstance(partition_key, str):
            partition_key = partitions_def.get_partition_key_from_str(partition_key)
        if partition_key is not None:
            if isinstance(partition_key, dg.MultiPartitionKey):
                dims = dict(partition_key.keys_by_dimension)
            elif isinstance(partitions_def, dg.DynamicPartitionsDefinition):
                dims = {partitions_def.name: partition_key}
            else:
                dims = {"synth": partition_key}
        return lake.partition_dir(Path(self.lake_root), asset_key.path[-1], dims)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        key = context.asset_partition_key if context.has_asset_partitions else None
        folder = self._folder(context.asset_key, key, context.asset_partitions_def if key else None)
        if isinstance(obj, pl.DataFrame):
            lake.write_frame(folder, obj)
        else:
            lake.write_object(folder, obj)

    def load_input(self, context: dg.InputContext):
        asset_key = context.asset_key
        if not context.has_asset_partitions:
            return self._read(self._folder(asset_key, None, None))
        partitions_def = context.asset_partitions_def
        keys = context.asset_partition_keys
        if len(keys) == 1:
            key = context.asset_partition_key
            return self._read(self._folder(asset_key, key, partitions_def))
        return {k: self._read(self._folder(asset_key, k, partitions_def)) for k in keys}

    @staticmethod
    def _read(folder: Path):
        if (folder / lake.FRAME_FILE).exists():
            return lake.read_frame(folder)
        return lake.read_object(folder)
