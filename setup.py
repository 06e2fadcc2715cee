"""Packaging layout (metadata and pins live in pyproject.toml).

The core (`hybrid_data`) and the command (`hybrid_data_dagster`) install as packages. The Dagster code location
keeps the project's top-level folders in a checkout (`definitions.py`, `assets/`, `checks/`, `dbt_like_sql/`,
`workspace.yaml`) but installs inside `hybrid_data_dagster/code_location/`, off the default import path, so its
generic module names cannot collide with another project's `assets` or `checks` (see hybrid_data_dagster).
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

LOCATION = "hybrid_data_dagster.code_location"


class BuildPy(build_py):
    """The code location's folder is the project root: ship its definitions.py, not this file."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == LOCATION and m[1] == "setup")]


location_packages = {LOCATION: "."} | {
    f"{LOCATION}.{name}": name.replace(".", "/")
    for name in find_packages(include=["assets", "assets.*", "checks", "checks.*"])
}

setup(
    cmdclass={"build_py": BuildPy},
    packages=find_packages(include=["hybrid_data", "hybrid_data.*", "hybrid_data_dagster"]) + list(location_packages),
    package_dir=location_packages,
    package_data={
        "hybrid_data": ["data/*.csv", "data/*.md", "plans/*.yaml"],
        LOCATION: ["workspace.yaml", "dbt_like_sql/*.md", "dbt_like_sql/**/*.sql"],
        f"{LOCATION}.checks": ["suites/*.json", "suites/*.md", "suites/generated/*.json"],
    },
)
