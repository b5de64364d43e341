"""The web console in a real browser: Debian's headless chromium, driven by selenium through
Debian's chromedriver, against a real server on 127.0.0.1 with real local agents and the real
script hook (docs/console.md).

One walk through the console, in the order a person would: sign in, watch a stack's create
finish on the list without a reload, open its graph and a nested group, read a deployment's
stdout (escaped), watch an update arrive live on the stack page, read the change page, find
another project's stack unreachable, have a forged POST refused, sign out. A screenshot of each
page goes to $HEARTH_ARTIFACTS (else the test's tmp_path); with HEARTH_UPDATE_SCREENSHOT=1 the
stack page's is also written to docs/images/console-stack.png. Without chromium the test is
skipped, unless CI is set: then it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from tests.support import ADMIN_TOKEN, ROOT

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGE_WEIGHT_MOST = 64 * 1024  # bytes of HTML, CSS and JS for the stack page
TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  greeting: {type: string, default: hello}
  password: {type: string, hidden: true, default: console-hidden-value}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: greeting}]
      outputs: [{name: result}]
      config: |
        #!/bin/sh
        echo "<b>said $greeting</b>"
        echo "$greeting from the console test" > $heat_outputs_path.result
  server:
    type: OS::Nova::Server
    properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: {get_resource: server}
      input_values: {greeting: {get_param: greeting}}
      actions: [CREATE, UPDATE]
  group:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def: {type: OS::Heat::None}
outputs:
  result: {value: {get_attr: [deploy, result]}}
"""


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:  # the `test` extra brings selenium
        _missing(f"selenium is not installed: {error}")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        _missing(f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="hearth-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to read CSP violations
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    # Debian's chromedriver, always: selenium-manager must never try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"the console's browser test needs a browser in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("HEARTH_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_person_follows_a_stack_in_the_console(hearth, browser, artifacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    url = hearth.url
    wait = WebDriverWait(browser, 60, poll_frequency=0.1)

    def text_of(selector: str) -> str:
        return browser.find_element(By.CSS_SELECTOR, selector).text

    def shows(selector: str, text: str):
        wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text), f"{selector}: {text}")

    def mark_page() -> None:  # a reload would drop it: proof that a change came live
        browser.execute_script("window.hearthNoReload = true;")

    def still_same_page() -> bool:
        return browser.execute_script("return window.hearthNoReload === true;")

    other_token = _other_project(hearth)
    requests.post(
        f"{url}/v1/other/stacks",
        json={"stack_name": "elsewhere-private", "template": "heat_template_version: 2018-08-31\nresources: {}\n"},
        headers={"X-Auth-Token": other_token},
        timeout=30,
    ).raise_for_status()

    # Sign in: a wrong token first, then the admin's.
    browser.get(f"{url}/console/")
    browser.find_element(By.ID, "token").send_keys("hat_not-a-real-token")
    browser.find_element(By.CSS_SELECTOR, "form.signin button").click()
    shows("p.error", "unknown, expired or revoked")
    browser.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form.signin button").click()
    wait.until(seen.url_contains("/console/stacks"))
    assert ADMIN_TOKEN not in browser.page_source

    # The list, live: the create is started while the page is open.
    stack_id = hearth.create_stack("console", TEMPLATE).json()["stack"]["id"]
    browser.get(f"{url}/console/stacks")
    mark_page()
    row = f'tr[data-stack-id="{stack_id}"] [data-field=status]'
    shows(row, "CREATE_COMPLETE")
    assert still_same_page()
    assert "elsewhere-private" not in browser.page_source
    browser.save_screenshot(str(artifacts / "console-stacks.png"))

    # The stack page: graph, outputs, masked parameter, then an update arriving live.
    browser.find_element(By.LINK_TEXT, "console").click()
    shows("p.summary [data-field=status]", "CREATE_COMPLETE")
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg g.node")
    assert {n.get_attribute("data-resource") for n in nodes} == {"config", "server", "deploy", "group"}
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg path.edge")) == 2  # config and server -> deploy
    assert "hello from the console test" in text_of("#outputs-h + dl")
    assert "******" in text_of("#params-h + dl") and "console-hidden-value" not in browser.page_source
    weight = _page_weight(browser, url, stack_id)
    (artifacts / "console-page-weight.txt").write_text(f"{weight}\n")
    print(f"stack page weight: {weight} bytes (HTML + CSS + JS)")
    assert weight < PAGE_WEIGHT_MOST
    browser.save_screenshot(str(artifacts / "console-stack.png"))
    if os.environ.get("HEARTH_UPDATE_SCREENSHOT") == "1":
        browser.save_screenshot(str(ROOT / "docs" / "images" / "console-stack.png"))

    mark_page()
    answer = hearth.http.patch(
        f"{hearth.api}/stacks/console/{stack_id}", json={"parameters": {"greeting": "bonjour"}}, timeout=30
    )
    assert answer.status_code == 202, answer.text
    shows("p.summary [data-field=status]", "UPDATE_IN_PROGRESS")
    shows("p.summary [data-field=status]", "UPDATE_COMPLETE")
    shows("#events tbody", "UPDATE_COMPLETE")
    shows('tr[data-resource="deploy"] [data-field=status]', "UPDATE_COMPLETE")
    assert still_same_page()

    # A group is a nested stack: its page, and back through the parent link.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-resource="group"] th a').click()
    shows("h1", "Stack console-group-")
    assert {n.get_attribute("data-resource") for n in browser.find_elements(By.CSS_SELECTOR, "svg g.node")} == {
        "0",
        "1",
    }
    browser.find_element(By.LINK_TEXT, "Parent stack").click()
    shows("h1", "Stack console")

    # Deployments and agents: the stdout escaped, in <pre>.
    browser.find_element(By.LINK_TEXT, "Deployments and agents").click()
    shows(".deployment pre.stdout", "<b>said bonjour</b>")
    assert not browser.find_elements(By.CSS_SELECTOR, ".deployment pre.stdout b")
    assert text_of("section.server dl.facts-line").split("\n")[1] == "alive"
    browser.save_screenshot(str(artifacts / "console-deployments.png"))

    # The change page: the update's convergence report, per server.
    browser.find_element(By.LINK_TEXT, "Latest change").click()
    shows("h1", "UPDATE of console")
    shows("main table", "UPDATE_COMPLETE")
    shows("#chg-spread", "Time to converge")
    row = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=chg-servers] tbody tr").text
    assert row.count(" s") >= 3 and "+" in row, row  # delivered, started and finished after the commit
    browser.save_screenshot(str(artifacts / "console-changes.png"))

    # Another project's stack: a 404 page, whatever the URL.
    elsewhere = requests.get(f"{url}/v1/other/stacks", headers={"X-Auth-Token": other_token}, timeout=30)
    other_id = elsewhere.json()["stacks"][0]["id"]
    browser.get(f"{url}/console/stacks/{other_id}")
    shows("h1", "Not found")
    assert "elsewhere-private" not in browser.page_source

    # A forged POST (the session cookie, but not the page's CSRF token) is refused.
    cookie = browser.get_cookie("hearth_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"
    forged = requests.post(
        f"{url}/console/signout",
        data={"csrf_token": "forged"},
        cookies={"hearth_console": cookie["value"]},
        allow_redirects=False,
        timeout=30,
    )
    assert forged.status_code == 403

    # Nothing the pages did was blocked by their Content-Security-Policy.
    blocked = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []

    # Sign out: back to the sign-in form, and the pages need a new sign-in.
    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    wait.until(seen.url_contains("/console/signin"))
    assert browser.get_cookie("hearth_console") is None
    browser.get(f"{url}/console/stacks")
    wait.until(seen.url_contains("/console/signin"))


def _other_project(hearth) -> str:
    """A token of user `eve`, a member of project `other` only."""
    admin = f"{hearth.url}/admin/v1"
    hearth.http.post(f"{admin}/projects", json={"name": "other"}, timeout=30).raise_for_status()
    hearth.http.post(f"{admin}/users", json={"name": "eve"}, timeout=30).raise_for_status()
    hearth.http.put(f"{admin}/projects/other/users/eve/roles/member", timeout=30).raise_for_status()
    return hearth.http.post(f"{admin}/tokens", json={"user": "eve", "name": "t"}, timeout=30).json()["token"]["token"]


def _page_weight(browser, url: str, stack_id: str) -> int:
    """Bytes of the stack page's HTML, CSS and JS as the browser received them (the bodies:
    the server sends them uncompressed), from the Resource Timing entries of a load with the
    browser's cache off (cached files would count as nothing)."""
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        browser.get(f"{url}/console/stacks/{stack_id}")
        entries = browser.execute_script(
            "return [performance.getEntriesByType('navigation')[0]].concat(performance.getEntriesByType('resource'))"
            ".filter(e => !e.name.includes('/console/stream/'))"
            ".map(e => [e.name, e.encodedBodySize]);"
        )
    finally:
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    sizes = {name.split("?")[0].rsplit("/", 1)[-1]: size for name, size in entries}
    assert sizes.get("console.css", 0) > 1000 and sizes.get("console.js", 0) > 1000, entries
    print("stack page parts:", sizes)
    return sum(sizes.values())
