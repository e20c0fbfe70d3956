"""The viewer `rrstore serve` ships (/viewer/), in headless Chromium, against a live server
loaded with every corpus session: the list shows them all with thumbnails and storage
figures; each one plays in rrweb-player 0.7.14 inside the sandboxed frame with no failed
asset request and no console error from the viewer's pages; auth asks for a token and
says when one is refused; a recording crafted to run script at rebuild reaches neither the
page nor the API."""
import glob, gzip, io, json, os, re, tempfile, urllib.request
import pytest
from conftest import ROOT, VENDOR, Serve, differing_share, network_log, recording_id, require, wait_for

CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
SESSIONS = sorted(glob.glob(os.path.join(CORPUS, "*", "session-*.json.gz")))
SHOT = os.environ.get("RRSTORE_VIEWER_SCREENSHOT")  # where to keep the README's picture


def call(url, method="GET", data=None, headers=None, token=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = "Bearer " + token
    return urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers), timeout=120)


def thumbnail(text):
    """A small PNG to stand in for a recorder's screenshot."""
    from PIL import Image, ImageDraw
    image = Image.new("RGB", (320, 200), (40, 90, 160))
    ImageDraw.Draw(image).text((10, 90), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def load(serve, token=None):
    for path in SESSIONS:
        session = recording_id(path)
        assert call(f"{serve.url}/recordings/{session}/events", "POST", open(path, "rb").read(),
                    {"Content-Type": "application/json", "Content-Encoding": "gzip"}, token).status == 202
        assert call(f"{serve.url}/recordings/{session}/screenshot", "PUT", thumbnail(session),
                    {"Content-Type": "image/png"}, token).status in (200, 201, 204)


@pytest.fixture(scope="module")
def api():
    require(SESSIONS, f"no corpus sessions under {CORPUS}")
    serve = Serve()
    load(serve)
    yield serve
    serve.stop()


def test_the_player_served_is_the_wheels(api):
    """rrweb-player is committed (Sources/RRStoreServer/Viewer/files) and compiled in: it is
    the django-rrweb 4.0.5 wheel's file, byte for byte, and the replay origin serves it."""
    page = call(f"{api.url}/viewer/recordings/any").read().decode()
    frame = re.search(r'data-src="(http://127\.0\.0\.1:\d+)/viewer/frame\.html"', page).group(1)
    committed = os.path.join(ROOT, "Sources", "RRStoreServer", "Viewer", "files")
    for ours, wheels in (("rrweb-player.js", "rrweb-player-0-7-14.js"), ("rrweb-player.css", "rrweb-player-0-7-14-style.css")):
        expected = open(os.path.join(VENDOR, wheels), "rb").read()
        assert open(os.path.join(committed, ours), "rb").read() == expected, ours
        assert call(f"{frame}/viewer/{ours}").read() == expected, ours


def viewer_errors(browser, api):
    """Console errors raised by the viewer's own pages (not by recorded pages in the frame,
    whose blocked resources the sandbox's policy refuses by design)."""
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
            and ("/viewer/viewer.js" in entry["message"] or entry["message"].startswith(api.url + "/viewer/ ")
                 or "/viewer/recordings/" in entry["message"].split(" ")[0])]


def test_the_list_shows_every_recording_with_its_thumbnail_and_storage(browser, api):
    browser.get_log("browser")
    browser.get(f"{api.url}/")
    wait_for(browser, f"window.__viewer && window.__viewer.ready && window.__viewer.rows === {len(SESSIONS)}", what="the list")
    rows = browser.execute_script("return [...document.querySelectorAll('#recordings tbody tr')].map(r => r.dataset.id)")
    assert sorted(rows) == sorted(recording_id(p) for p in SESSIONS)
    wait_for(browser, "[...document.querySelectorAll('img.thumbnail')].filter(i => i.complete && i.naturalWidth === 320).length === %d"
             % len(SESSIONS), what="every thumbnail")
    wait_for(browser, "![...document.querySelectorAll('#recordings td')].some(td => td.textContent === '…')", what="the storage figures")
    # Newest first: the last session posted is on top.
    assert rows[0] == recording_id(SESSIONS[-1])
    # Each row's first page and duration are the recording's own (its first Meta event's
    # href, its last event's time less its first's), kept by the server as events came in.
    listed = {r["id"]: r for r in browser.execute_script("return window.__viewer.listed")}
    for path in SESSIONS:
        events = json.load(gzip.open(path))
        row, times = listed[recording_id(path)], [e["timestamp"] for e in events]
        assert row["first_url"] == next(e["data"]["href"] for e in events if e["type"] == 4), row
        assert row["duration_ms"] == max(times) - min(times), row
    cells = browser.execute_script("return [...document.querySelectorAll('#recordings tbody tr')].map(r => r.cells[3].textContent)")
    assert cells == [listed[r]["first_url"] for r in rows]
    assert viewer_errors(browser, api) == []
    if SHOT:
        browser.save_screenshot(os.path.join(SHOT, "viewer-list.png"))
    # A page at a time, by the API's cursor: More until there is no more.
    browser.get(f"{api.url}/viewer/?limit=10")
    wait_for(browser, "window.__viewer.ready && window.__viewer.rows === 10", what="the first page of 10")
    for shown in (20, len(SESSIONS)):
        browser.find_element("id", "more").click()
        wait_for(browser, f"window.__viewer.rows === {shown}", what=f"{shown} rows")
    assert not browser.find_element("id", "more").is_displayed()
    paged = browser.execute_script("return [...document.querySelectorAll('#recordings tbody tr')].map(r => r.dataset.id)")
    assert paged == rows


def open_player(browser, api, session, assets="url"):
    browser.get(f"{api.url}/viewer/recordings/{session}" + ("?assets=inline" if assets == "inline" else ""))
    wait_for(browser, "window.__viewer.ready && window.__viewer.storage", timeout=90, what=f"the player of {session}")


def replay_at(browser, offset, what):
    """The replay paused at `offset` ms once its images have loaded, as an RGB picture."""
    from PIL import Image
    browser.execute_script("window.__viewer.goto(arguments[0], false)", offset)
    settled = wait_for(browser, "window.__viewer.settled", timeout=90, what=what)
    frame = browser.find_element("css selector", "#replay")
    return settled, Image.open(io.BytesIO(frame.screenshot_as_png)).convert("RGB")


@pytest.mark.parametrize("path", SESSIONS, ids=recording_id)
def test_each_recording_plays_to_its_end(browser, api, path):
    session = recording_id(path)
    browser.get_log("browser")
    browser.get_log("performance")
    open_player(browser, api, session)
    duration, last_full = browser.execute_script("return [window.__viewer.duration, window.__viewer.lastFullSnapshot]")
    # Just after it: rrweb 1.x's paused goto applies only the events before its time.
    last_full += 1
    settled, _ = replay_at(browser, duration, f"the end of {session}")
    assert settled["broken"] == [], settled
    assert browser.execute_script("return window.__viewer.frameError || window.__viewer.error || window.__viewer.failed || null") is None
    settled, by_url = replay_at(browser, last_full, f"the last full snapshot of {session}")
    assert settled["broken"] == [], settled
    made, _ = network_log(browser)
    assets = [(url, status) for url, status in made if "/assets/" in url]
    assert all(status in (200, 304) for _, status in assets), [a for a in assets if a[1] not in (200, 304)]
    if settled["images"]:
        assert assets, "images load by URL from the asset route"
    assert viewer_errors(browser, api) == []
    storage = browser.execute_script("return window.__viewer.storage")
    assert storage["assets"] and all(a["recordings"] >= 1 for a in storage["assets"])
    pages = browser.execute_script("return document.querySelectorAll('#pages button').length")
    assert pages >= 1, "the page views are jump points"
    assert len(by_url.resize((64, 64)).getcolors(64 * 64) or range(9999)) > 4, "the replay is not blank"
    if SHOT and path == SESSIONS[0]:
        # Tall enough for the storage panel under the replay.
        size = browser.get_window_size()
        browser.set_window_size(size["width"], 1500)
        browser.save_screenshot(os.path.join(SHOT, "viewer-player.png"))
        browser.set_window_size(size["width"], size["height"])
    # The same events with their assets inlined look the same: the URLs served what the
    # recorder had inlined.
    open_player(browser, api, session, assets="inline")
    _, inline = replay_at(browser, last_full, f"the inline replay of {session}")
    share = differing_share(by_url, inline, 24)
    if share >= 0.01:
        kept = os.path.join(tempfile.gettempdir(), f"rrstore-viewer-{session}")
        by_url.save(kept + "-url.png")
        inline.save(kept + "-inline.png")
        raise AssertionError(f"{share:.2%} of the pixels differ from the inline replay (both kept: {kept}-*.png)")


def test_auth_asks_for_a_token_refuses_a_wrong_one_and_hides_other_tenants(browser):
    work = tempfile.mkdtemp(prefix="rrstore-viewer-auth-")
    tokens = os.path.join(work, "tokens")
    open(tokens, "w").write("acme acme-token-0123456789\nbeta beta-token-0123456789\n")
    serve = Serve("--auth", "token", "--tokens-file", tokens, "--url-signing-secret", "s" * 32)
    try:
        path = SESSIONS[0]
        session = recording_id(path)
        assert call(f"{serve.url}/recordings/{session}/events", "POST", open(path, "rb").read(),
                    {"Content-Type": "application/json", "Content-Encoding": "gzip"}, "acme-token-0123456789").status == 202
        browser.get(f"{serve.url}/viewer/")
        browser.execute_script("sessionStorage.clear()")
        browser.get(f"{serve.url}/viewer/")
        asked = wait_for(browser, "window.__viewer.askedForToken", what="the token prompt")
        assert "needs a bearer token" in asked
        assert browser.find_element("id", "login").is_displayed()
        browser.find_element("id", "token").send_keys("wrong-token-0123456789")
        browser.find_element("css selector", "#login button").click()
        refused = wait_for(browser, "window.__viewer.askedForToken", what="the refusal")
        assert "refused" in refused
        browser.find_element("id", "token").send_keys("acme-token-0123456789")
        browser.find_element("css selector", "#login button").click()
        wait_for(browser, "window.__viewer.ready && window.__viewer.rows === 1", what="acme's list")
        # The replay's asset links are the signed ones: they load without the token.
        browser.get_log("performance")
        browser.get(f"{serve.url}/viewer/recordings/{session}")
        wait_for(browser, "window.__viewer.ready", timeout=90, what="acme's player")
        browser.execute_script("window.__viewer.goto(window.__viewer.duration, false)")
        settled = wait_for(browser, "window.__viewer.settled", timeout=90, what="acme's replay")
        assert settled["broken"] == []
        made, _ = network_log(browser)
        assert all(status in (200, 304) for url, status in made if "/assets/" in url)
        # Another tenant's token: the recording is not found.
        browser.execute_script("sessionStorage.setItem('rrstore-token', 'beta-token-0123456789')")
        browser.get(f"{serve.url}/viewer/recordings/{session}")
        failed = wait_for(browser, "window.__viewer.failed", what="beta's answer")
        assert "no recording" in failed
        assert "Not found" in browser.find_element("id", "message").text
    finally:
        serve.stop()


def api_requests(api, route):
    """How many requests the server has answered on `route` (its request counter)."""
    text = call(f"{api.url}/metrics").read().decode()
    pattern = re.compile(r'^rrstore_http_requests_total\{(.*)\} (\d+)$', re.M)
    return sum(int(count) for labels, count in pattern.findall(text) if f'route="{route}"' in labels)


def test_the_viewer_reads_rrstores_forms_under_api_compat_original(browser):
    """`--api-compat original` makes plain reads answer as the replaced system did; the
    viewer asks for rrstore's own forms, page after page."""
    serve = Serve("--api-compat", "original")
    try:
        smallest = sorted(SESSIONS, key=os.path.getsize)[:2]
        for path in smallest:
            assert call(f"{serve.url}/recordings/{recording_id(path)}/events", "POST", open(path, "rb").read(),
                        {"Content-Type": "application/json", "Content-Encoding": "gzip"}).status == 202
        assert b'"Items"' in call(f"{serve.url}/recordings").read(), "plain reads are in the original form"
        browser.get(f"{serve.url}/viewer/?limit=1")
        wait_for(browser, "window.__viewer.ready && window.__viewer.rows === 1", what="the first page")
        browser.find_element("id", "more").click()
        wait_for(browser, "window.__viewer.rows === 2", what="the second page")
        assert browser.execute_script("return window.__viewer.failed || window.__viewer.error || null") is None
        browser.get(f"{serve.url}/viewer/recordings/{recording_id(smallest[0])}")
        wait_for(browser, "window.__viewer.ready && window.__viewer.storage", timeout=90, what="the player")
        assert browser.execute_script("return window.__viewer.events") == len(json.load(gzip.open(smallest[0])))
        settled, _ = replay_at(browser, browser.execute_script("return window.__viewer.duration"), "the replay")
        assert settled["broken"] == [], settled
    finally:
        serve.stop()


def hostile_events(api_url):
    """A recording whose snapshot carries script in every form rebuild might run."""
    payload = f"fetch('{api_url}/usage').then(()=>{{}});new Image().src='{api_url}/canary';alert(1);parent.postMessage({{type:'settled',images:0,broken:['escaped']}},'*')"
    def element(node_id, tag, attributes, children=()):
        return {"type": 2, "id": node_id, "tagName": tag, "attributes": attributes, "childNodes": list(children)}
    body = element(5, "body", {}, [
        element(6, "script", {}, [{"type": 3, "id": 7, "textContent": payload}]),
        element(8, "img", {"src": "x", "onerror": payload}),
        element(9, "iframe", {"srcdoc": f"<script>{payload}</script>"}),
        element(10, "a", {"href": "javascript:" + payload}, [{"type": 3, "id": 11, "textContent": "link"}]),
        element(12, "svg", {"onload": payload}),
        element(13, "img", {"src": f"{api_url}/canary-img"}),
    ])
    html = element(2, "html", {}, [element(3, "head", {}, [element(4, "style", {"_cssText": "body{background:#fff}"})]), body])
    snapshot = {"type": 0, "id": 1, "childNodes": [{"type": 1, "id": 14, "name": "html", "publicId": "", "systemId": ""}, html]}
    return [{"type": 4, "data": {"href": "https://hostile.example/", "width": 800, "height": 600}, "timestamp": 1000},
            {"type": 2, "data": {"node": snapshot, "initialOffset": {"left": 0, "top": 0}}, "timestamp": 1001},
            {"type": 3, "data": {"source": 0, "texts": [], "attributes": [], "removes": [],
                                 "adds": [{"parentId": 5, "nextId": None, "node": element(15, "img", {"src": "y", "onerror": payload})}]},
             "timestamp": 1500}]


def test_a_recording_that_runs_script_at_rebuild_stays_in_the_sandbox(browser, api):
    from selenium.common.exceptions import NoAlertPresentException
    events = hostile_events(api.url)
    body = "\n".join(json.dumps(e) for e in events).encode()
    assert call(f"{api.url}/recordings/hostile/events", "POST", body, {"Content-Type": "application/x-ndjson"}).status == 202
    browser.get_log("browser")
    browser.get_log("performance")
    unmatched_before, usage_before = api_requests(api, "NotFound"), api_requests(api, "/usage")
    pages_before = api_requests(api, "/viewer/recordings/{id}")
    browser.get(f"{api.url}/viewer/recordings/hostile")
    wait_for(browser, "window.__viewer.ready", what="the hostile recording's player")
    browser.execute_script("window.__viewer.goto(window.__viewer.duration, false)")
    settled = wait_for(browser, "window.__viewer.settled", timeout=60, what="the hostile replay")
    assert settled.get("broken") != ["escaped"]
    try:
        browser.switch_to.alert.dismiss()
        raise AssertionError("an alert ran")
    except NoAlertPresentException:
        pass
    made, urls = network_log(browser)
    # The browser tried (an <img> naming the API is a request Chromium logs), but the
    # frame's policy stopped it: the server saw nothing of the recording.
    assert [u for u in urls if "/canary-img" in u], "the test's bait was not tried"
    assert not [u for u, status in made if ("/usage" in u or "/canary" in u) and status != "csp"], made
    assert api_requests(api, "/viewer/recordings/{id}") > pages_before, "the counter counts"
    assert api_requests(api, "NotFound") == unmatched_before, "a request from the recording reached the API"
    assert api_requests(api, "/usage") == usage_before, "a request from the recording reached the API"
    assert viewer_errors(browser, api) == []
    # The page still has the token's storage to itself: the frame is another origin.
    assert browser.execute_script("return document.querySelector('#replay').contentDocument") is None


def test_rrweb_1x_cannot_replay_in_a_sandbox_without_allow_same_origin(browser, api):
    """Why the replay frame keeps allow-same-origin and gets an origin of its own instead:
    rrweb 1.x's Replayer rebuilds into an iframe of its own and reads its contentDocument,
    which no document nested in a frame sandboxed without allow-same-origin can give (each
    gets a new opaque origin). If a later rrweb can, this fails: then drop allow-same-origin."""
    session = recording_id(SESSIONS[0])
    open_player(browser, api, session)
    outcome = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], path = arguments[0];
        (async () => {
        const src = document.getElementById("replay").dataset.src;
        const events = await (await fetch(path)).text();
        const strict = document.createElement("iframe");
        strict.setAttribute("sandbox", "allow-scripts");
        const heard = [];
        window.addEventListener("message", event => {
            if (event.source !== strict.contentWindow) return;
            heard.push(event.data.type);
            if (event.data.type === "ready") {
                const list = events.split("\\n").filter(l => l.trim()).map(l => JSON.parse(l));
                strict.contentWindow.postMessage({type: "events", events: list}, "*");
            }
            if (event.data.type === "playing" || event.data.type === "error") done(heard);
        });
        setTimeout(() => done(heard), 30000);
        strict.src = src;
        document.body.appendChild(strict);
        })();
    """, f"/recordings/{session}/events?assets=url")
    assert "ready" in outcome, outcome
    assert "error" in outcome and "playing" not in outcome, outcome

