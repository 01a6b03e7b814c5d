"""The service on Ray Serve in the session's cluster: the API over HTTP, and the page in Chromium.

The `embedfleet serve` process itself (flags, token from the environment, SIGTERM) is driven in
tests/integration/test_service_lockdown.py; here the same deployment is started in process.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.corpus import REPO
from tests.support.embedding import copy_db
from tests.support.http_client import call
from tests.support.loadgen import free_port

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
QUERY = "a storm on a giant planet"


@pytest.fixture(scope="module")
def served(minilm_sample_db, tmp_path_factory):
    """The service deployed by start_service over a copy of the real-model sample table."""
    from jobs.service.serve import start_service, stop_service
    from storage.index import build_text_index

    root = tmp_path_factory.mktemp("serve")
    # The real model: the page's screenshot should show real topics clustering.
    db = copy_db(minilm_sample_db, root)
    build_text_index(db, "sample")  # a small table has none by default; the page's hybrid needs it
    url = start_service(db, port=free_port())
    try:
        yield url, root
    finally:
        stop_service()


def test_api_through_ray_serve(served):
    url, _ = served
    assert call(url + "/tables") == (200, {"tables": ["sample"]})
    status, found = call(url + "/tables/sample/search?q=" + urllib.request.quote(QUERY) + "&k=3")
    assert status == 200 and [h["topic"] for h in found["hits"]][0] == "astronomy"
    assert call(url + "/tables/sample")[1]["color_by"] == "topic"
    status, posted = call(url + "/tables/sample/search", json.dumps({"query": QUERY, "k": 3}).encode())
    assert status == 200 and posted["hits"] == found["hits"]
    assert call(url + "/tables/sample/search?q=x&k=1001")[0] == 422
    assert call(url + "/tables/sample/search", b'{"query": ')[1]["error"].startswith("request body is not")
    assert call(url + "/tables/nope")[0] == 404
    status, similar = call(url + "/tables/sample/similar/astronomy-001?k=2")
    assert status == 200 and len(similar["hits"]) == 2
    status, docs = call(url + "/docs")
    assert status == 200 and "swagger" in docs.lower()
    assert "/tables/{table}/projection" in call(url + "/openapi.json")[1]["paths"]
    status, data = call(url + "/tables/sample/projection?n=40&color_by=year")
    assert status == 200 and len(data["points"]) == 40 and data["colors"]["kind"] == "number"


def browser_or_skip(profile: Path):
    """A headless Chromium driven by selenium, or a skip saying why there is none."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        reason = (f"no {' or '.join(missing)}: `make test` installs chromium and chromium-driver "
                  "with apt when run as root")
        print(f"browser test skipped: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,860",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def shown_ids(driver) -> list[str]:
    """The ids of the listed hits, read in one script call (the list may be replaced meanwhile)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#results li .head b')].map((b) => b.textContent)")


def test_page_searches_and_maps_in_chromium(served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    url, root = served
    driver = browser_or_skip(root / "chromium-profile")
    try:
        wait = WebDriverWait(driver, 180)
        driver.get(url + "/")
        wait.until(lambda d: d.find_element(By.ID, "map").get_attribute("data-points") == "300")
        # The map opens coloured by the table's categorical column.
        assert Select(driver.find_element(By.ID, "color-by")).first_selected_option.text == "topic"
        wait.until(lambda d: "astronomy" in d.find_element(By.ID, "legend").text)
        Select(driver.find_element(By.ID, "color-by")).select_by_value("year")
        wait.until(lambda d: "year" in d.find_element(By.ID, "legend").text)
        Select(driver.find_element(By.ID, "color-by")).select_by_value("topic")
        wait.until(lambda d: "astronomy" in d.find_element(By.ID, "legend").text)
        driver.find_element(By.ID, "query").send_keys(QUERY)
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li")) == 10)
        expected = call(url + "/tables/sample/search?q=" + urllib.request.quote(QUERY) + "&k=10")[1]
        shown = [li.find_element(By.CSS_SELECTOR, ".head b").text
                 for li in driver.find_elements(By.CSS_SELECTOR, "#results li")]
        assert shown == [h["id"] for h in expected["hits"]]
        canvas = driver.find_element(By.ID, "map")
        assert canvas.get_attribute("data-points") == "300" and canvas.get_attribute("data-marked") == "10"
        assert "10 results; 10 of them in the map" in driver.find_element(By.ID, "status").text
        hybrid = driver.find_element(By.ID, "hybrid")
        assert hybrid.is_enabled()
        hybrid.click()
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        fused = call(url + "/tables/sample/search?hybrid=true&q=" + urllib.request.quote(QUERY))[1]
        fused_ids = [h["id"] for h in fused["hits"]]
        assert fused_ids != shown  # fused by rank: not the dense order
        wait.until(lambda d: shown_ids(d) == fused_ids)
        hybrid.click()
        driver.find_element(By.CSS_SELECTOR, "#search-form button").click()
        wait.until(lambda d: shown_ids(d) == shown)
        driver.find_elements(By.CSS_SELECTOR, "#results li")[0].click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#neighbours li")) == 8)
        assert driver.find_element(By.ID, "doc-id").text == shown[0]
        driver.execute_script("document.getElementById('left').scrollTop = 0")
        assert driver.save_screenshot(str(root / "screenshot.png"))
        if os.environ.get("EMBEDFLEET_UPDATE_SCREENSHOT"):
            # Refreshing the documented screenshot is a deliberate act, not a test side effect.
            shutil.copyfile(root / "screenshot.png", REPO / "docs" / "screenshot.png")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
