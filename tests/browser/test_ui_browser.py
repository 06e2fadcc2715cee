"""What a data scientist sees, in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by
Selenium against a Dagster webserver and an `mlflow ui` started here on loopback, after a tiny real run of the
pipeline (one synthesizer, two ratios) through `hybrid-data run`.

Screenshots go to the module's temporary folder (kept by pytest for a failed CI run); with
$HYBRID_DATA_SCREENSHOT_DIR set (scripts/screenshots.py), the two README screenshots are written there too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from hybrid_data.home import Home
from tests.conftest import tiny_frame, write_plan

REPO = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT_DIR_ENV = "HYBRID_DATA_SCREENSHOT_DIR"
PIPELINE_GROUPS = ("ingest", "staging", "split", "synthesis", "blending", "training")
STARTUP_SECONDS, RUN_SECONDS, PAGE_SECONDS = 240, 900, 90

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


@dataclass
class Servers:
    root: Path
    home: Home
    dagster: str
    mlflow: str
    experiment_id: str

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.dagster}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    """A tiny plan run end to end by `hybrid-data run`, then the Dagster webserver and the MLflow UI on its home."""
    root = tmp_path_factory.mktemp("ui")
    csv = root / "loans.csv"
    tiny_frame().write_csv(csv)
    plan = write_plan(
        root,
        csv,
        ratios=[0, 0.5],
        evaluation={"repeats": 1, "bootstrap": 200, "baselines": []},
        # a threshold no synthetic rows meet (AUC 0.5: indistinguishable), so the UI has a warning to show
        checks={"max_detection_auc": 0.5},
    )
    home = Home(root / "home")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env |= {
        "HYBRID_DATA_HOME": str(home.root),
        "HYBRID_DATA_PLAN": str(plan),
        "HYBRID_DATA_SUITES_DIR": str(root / "suites"),
        "DAGSTER_HOME": str(home.root / "dagster"),
        "PYTHONPATH": str(REPO),
    }
    ran = subprocess.run(
        [sys.executable, "-m", "hybrid_data_dagster.cli", "--plan", str(plan), "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]

    dagster_port, mlflow_port = free_port(), free_port()
    dagster_url, mlflow_url = f"http://127.0.0.1:{dagster_port}", f"http://127.0.0.1:{mlflow_port}"
    webserver = _start(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(dagster_port), "-w", "workspace.yaml"],
        env,
        root / "webserver.log",
    )
    mlflow_ui = _start(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", home.mlflow_tracking_uri()]
        + ["--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"],
        env,
        root / "mlflow.log",
    )
    try:
        wait_for_http(f"{dagster_url}/server_info", webserver, root / "webserver.log")
        wait_for_http(f"{mlflow_url}/health", mlflow_ui, root / "mlflow.log")
        import mlflow

        experiment = mlflow.MlflowClient(home.mlflow_tracking_uri()).get_experiment_by_name("tiny")
        found = Servers(root, home, dagster_url, mlflow_url, experiment.experiment_id)
        found.graphql("mutation { setNuxSeen }")  # the newsletter pop-up would cover the page
        yield found
    finally:
        _stop(webserver)
        _stop(mlflow_ui)


@pytest.fixture(scope="module")
def browser(servers):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def page_text(browser) -> str:
    return browser.find_element("tag name", "body").text


def wait_for_text(browser, wanted, seconds: float = PAGE_SECONDS) -> str:
    """The page's text once `wanted(text)` holds (the UIs render asynchronously); fails with what was shown."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = page_text(browser)
        if wanted(text):
            return text
        time.sleep(1)
    raise AssertionError(f"the page never showed what was expected; it shows:\n{text[:3000]}")


def screenshot(browser, servers: Servers, name: str, readme: bool = False) -> Path:
    path = servers.root / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(path))
    target = os.environ.get(SCREENSHOT_DIR_ENV)
    if readme and target:
        shutil.copy(path, Path(target) / path.name)
    return path


def shown(name: str, text: str) -> bool:
    """An asset name as the graph shows it: whole, or shortened in the middle (`classic…_baselines`)."""
    if name in text:
        return True
    return any(
        token.startswith(head) and token.endswith(tail)
        for token in re.findall(r"\S+…\S+", text)
        for head, tail in [token.split("…", 1)]
    )


def test_asset_graph_renders_every_asset(browser, servers):
    data = servers.graphql("{ assetNodes { assetKey { path } groupName } }")
    assets = sorted(n["assetKey"]["path"][-1] for n in data["assetNodes"] if n["groupName"] in PIPELINE_GROUPS)
    assert {"real_source", "real_train", "blend", "blend_model", "blend_scorecard"} <= set(assets)
    expanded = ",".join(f"global@global:{group}" for group in PIPELINE_GROUPS)
    browser.get(f"{servers.dagster}/asset-groups?expanded={expanded}")
    wait_for_text(browser, lambda text: all(shown(name, text) for name in assets))
    time.sleep(2)  # let the layout settle for the picture
    assert screenshot(browser, servers, "dagster_asset_graph", readme=True).stat().st_size > 10_000


def check_icon(browser, name: str) -> tuple[str, str]:
    """The status icon beside a check in the asset's Checks tab: its name (check_circle, warning_outline, ...)
    and its colour variable."""
    icon = browser.find_element("xpath", f'//div[@title="{name}"]/../../div//div[@role="img"]')
    return icon.get_attribute("aria-label"), icon.get_attribute("style")


def test_blend_checks_show_warnings_as_warnings(browser, servers):
    """Blocking checks are the four correctness checks; on the r = 0.5 blend the unmeetable detection threshold
    fails as a WARN; in the UI no check shows red, a failed warning shows a yellow warning icon and reads as
    non-blocking with the plan key that would make it block."""
    data = servers.graphql(
        '{ assetNodes(assetKeys: [{path: ["blend"]}]) { assetChecksOrError { ... on AssetChecks { checks { '
        "name blocking } } } } }"
    )
    checks = data["assetNodes"][0]["assetChecksOrError"]["checks"]
    blocking = {c["name"] for c in checks if c["blocking"]}
    assert blocking == {
        "blend_schema_matches_real",
        "blend_real_share_above_floor",
        "blend_excludes_holdout",
        "blend_no_exact_copies",
    }
    on_blend = {}
    for check in checks:
        executions = servers.graphql(
            'query($name: String!) { assetCheckExecutions(assetKey: {path: ["blend"]}, checkName: $name, '
            'partition: "0.5|gaussian_copula", limit: 1) { evaluation { success severity } } }',
            {"name": check["name"]},
        )["assetCheckExecutions"]
        on_blend[check["name"]] = executions[0]["evaluation"]
    assert all(on_blend[name]["success"] for name in blocking), on_blend
    assert not on_blend["blend_detection_auc"]["success"]
    assert {e["severity"] for e in on_blend.values() if not e["success"]} == {"WARN"}, on_blend

    browser.get(f"{servers.dagster}/assets/blend?view=checks")
    wait_for_text(browser, lambda t: all(c["name"] in t for c in checks))
    for check in checks:  # the list shows each check's worst partition
        label, style = check_icon(browser, check["name"])
        assert "red" not in style, (check["name"], label, style)
        if not on_blend[check["name"]]["success"]:
            assert label == "warning_outline" and "yellow" in style, (check["name"], label, style)
        else:
            assert label in ("check_circle", "warning_outline"), (check["name"], label, style)
    browser.find_element("xpath", '//div[@title="blend_detection_auc"]').click()
    text = wait_for_text(browser, lambda t: "non-blocking" in t and "checks.blocking" in t)
    assert "`checks.max_detection_auc` = 0.5" in text or "checks.max_detection_auc = 0.5" in text
    screenshot(browser, servers, "dagster_blend_checks")


def test_scorecard_metadata_shows_a_table_of_cells(browser, servers):
    cells = servers.home.open_lake().read_frame("blend_scorecard")["cell"].to_list()
    assert len(cells) >= 2
    browser.get(f"{servers.dagster}/assets/blend_scorecard")
    wait_for_text(browser, lambda t: "Latest materialization" in t and "scorecard" in t)
    # a long Markdown value sits behind its "Show Markdown" link in the metadata table; a short one is inline
    for link in browser.find_elements("xpath", '//*[text()="scorecard"]/ancestor::tr//*[contains(text(), "Markdown")]'):
        link.click()
    text = wait_for_text(browser, lambda t: all(cell in t for cell in cells))
    assert browser.find_elements("css selector", "table"), "the scorecard's metadata holds no rendered table"
    assert all(cell in text for cell in cells)
    screenshot(browser, servers, "dagster_scorecard")


def test_mlflow_lists_one_run_per_cell_with_the_headline_metric(browser, servers):
    """The experiment's runs list has one run per blend cell; comparing them shows the headline metric with its
    interval bounds side by side."""
    import mlflow

    client = mlflow.MlflowClient(servers.home.mlflow_tracking_uri())
    runs = client.search_runs([servers.experiment_id], "tags.`dagster.asset_key` = 'blend_model'")
    cells = [r.data.tags["hybrid_data.cell"] for r in runs]
    assert len(cells) == len(set(cells)) == 2  # one run per blend cell (r = 0 and r = 0.5)
    names = [r.info.run_name for r in runs]
    browser.get(f"{servers.mlflow}/#/experiments/{servers.experiment_id}/runs")
    wait_for_text(browser, lambda t: all(name in t for name in names))
    screenshot(browser, servers, "mlflow_runs")

    ids = quote(json.dumps([r.info.run_id for r in runs]))
    browser.get(f"{servers.mlflow}/#/compare-runs?runs={ids}&experiments={quote(json.dumps([servers.experiment_id]))}")
    text = wait_for_text(browser, lambda t: "pr_auc_ci_low" in t and all(name in t for name in names))
    assert "pr_auc_ci_high" in text
    # the picture people need: the runs' metrics side by side (below the plots on the page)
    metrics = browser.find_elements("xpath", '//*[normalize-space(text())="Metrics"]')
    if metrics:
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", metrics[-1])
        time.sleep(2)
    screenshot(browser, servers, "mlflow_experiment", readme=True)
