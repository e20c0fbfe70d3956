"""Fixtures of the browser tests: a live `rrstore serve` (the debug build), a page server on
another origin, and headless Chromium (Debian's chromium + chromium-driver, via Selenium)
with the real rrweb-record 1.1.3 and rrweb-player 0.7.14 from the django-rrweb 4.0.5 wheel,
laid out and sha256-checked in .build/browser by scripts/browser-deps.sh. Under CI=true
nothing here skips: a missing part fails."""
import functools, http.server, json, os, re, shutil, subprocess, tempfile, threading, time
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "rrstore")
VENDOR = os.path.join(ROOT, ".build", "browser")
PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pages")
VENDOR_FILES = ("rrweb-record-1-1-3.js", "rrweb-player-0-7-14.js", "rrweb-player-0-7-14-style.css")


def require(condition, message):
    """A missing part skips on a developer's machine and fails under CI=true."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: browser tests never skip; run scripts/browser-deps.sh)")
    pytest.skip(message + "; run scripts/browser-deps.sh")


class Serve:
    """`rrstore serve` on a free loopback port with its own data directory."""

    def __init__(self, *flags):
        require(os.path.exists(BINARY), f"{BINARY} is missing (swift build first)")
        self.work = tempfile.mkdtemp(prefix="rrstore-browser-")
        self.log_path = os.path.join(self.work, "serve.log")
        log = open(self.log_path, "w+")
        args = [BINARY, "serve", "--port", "0", "--data", os.path.join(self.work, "store"),
                "--log-level", "notice", *flags]
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            log.seek(0)
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
            if match:
                self.port = int(match.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
                return
            assert self.process.poll() is None, "rrstore serve exited: " + open(self.log_path).read()[-2000:]
            time.sleep(0.1)
        raise AssertionError("rrstore serve did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        assert self.process.returncode == 0, "rrstore serve did not stop cleanly: " + open(self.log_path).read()[-2000:]
        shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="session")
def page_origin():
    """The pages and the vendored rrweb files, served from another origin than the API's
    (another port on loopback), as a site embedding the recorder or the player would."""
    for name in VENDOR_FILES:
        require(os.path.exists(os.path.join(VENDOR, name)), f"{VENDOR}/{name} is missing")
    root = tempfile.mkdtemp(prefix="rrstore-pages-")
    shutil.copytree(PAGES, root, dirs_exist_ok=True)
    os.makedirs(os.path.join(root, "vendor"))
    for name in VENDOR_FILES:
        shutil.copy(os.path.join(VENDOR, name), os.path.join(root, "vendor", name))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    require(chromium and driver_path, "Debian's chromium and chromium-driver are not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1800,1100", "--force-device-scale-factor=1", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--lang=en-US", "--hide-scrollbars"):
        options.add_argument(argument)
    # Every network event, to find failed asset requests.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # The explicit driver path: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


def wait_for(driver, script, timeout=60, what="the page"):
    """Polls `script` (a JS expression) until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.1)
    error = driver.execute_script("return window.__error || null")
    raise AssertionError(f"{what}: '{script}' not true after {timeout} s (page error: {error})")


def recording_id(path):
    """A corpus session's recording id: `<site>.session-NNN`."""
    return os.path.basename(os.path.dirname(path)) + "." + os.path.basename(path).split(".")[0]


def network_log(browser):
    """Every request in Chromium's performance log since the last call: (url, status) for
    answers, (url, why) for failures (CSP's `csp`, or the error text), and every URL asked for."""
    made, requested = [], {}
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.responseReceived":
            made.append((params["response"]["url"], params["response"]["status"]))
        elif message["method"] == "Network.loadingFailed":
            why = params.get("blockedReason") or params.get("errorText")
            if params.get("corsErrorStatus"):
                why = f"{why} {params['corsErrorStatus']}"
            made.append((requested.get(params["requestId"], "?"), why))
    return made, list(requested.values())


def differing_share(a, b, level):
    """The share of pixels whose colour differs between two same-sized pictures by more than `level`."""
    from PIL import ImageChops
    assert a.size == b.size
    difference = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > level else 0)
    return difference.histogram()[255] / (a.size[0] * a.size[1])
