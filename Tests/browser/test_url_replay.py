"""URL-mode replay of every corpus session in rrweb-player 0.7.14, from a page on another
origin than the service (`rrstore serve --cors-origin '*'`, no --public-url): no asset
request fails (each image is loaded cross-origin, as rrweb recorded it), and the replay
at the end of the session looks like the inline replay's pixels within a small tolerance."""
import glob, gzip, io, json, os, urllib.request
import pytest
from conftest import ROOT, Serve, differing_share, network_log, recording_id, require, wait_for

CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
SESSIONS = sorted(glob.glob(os.path.join(CORPUS, "*", "session-*.json.gz")))
# Share of pixels allowed to differ visibly between the two replays (anti-aliasing of
# images decoded from a data: URI and from a URL can differ by a level here and there).
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def api():
    require(SESSIONS, f"no corpus sessions under {CORPUS}")
    serve = Serve("--cors-origin", "*")
    for path in SESSIONS:
        request = urllib.request.Request(f"{serve.url}/recordings/{recording_id(path)}/events", method="POST",
                                         data=open(path, "rb").read(),
                                         headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert urllib.request.urlopen(request, timeout=120).status == 202
    yield serve
    serve.stop()


def asset_failures(browser):
    """Asset requests that failed or answered an error, and every asset URL asked for."""
    made, requested = network_log(browser)
    failures = [(url, status) for url, status in made if "/assets/" in url and not (isinstance(status, int) and status < 400)]
    return failures, [url for url in requested if "/assets/" in url]


def replay(browser, page_origin, api, session, mode):
    browser.get_log("performance")  # forget earlier entries
    browser.get(f"{page_origin}/replay.html?api={api.url}&id={session}&mode={mode}")
    state = wait_for(browser, "window.__state || (window.__error && {error: window.__error})", timeout=90,
                     what=f"{session} ({mode})")
    assert "error" not in state, state
    frame = browser.find_element("css selector", ".replayer-wrapper")
    return state, frame.screenshot_as_png


@pytest.mark.parametrize("path", SESSIONS, ids=recording_id)
def test_url_mode_replays_like_inline(browser, page_origin, api, path):
    from PIL import Image

    session = recording_id(path)
    inline_state, inline_png = replay(browser, page_origin, api, session, "inline")
    url_state, url_png = replay(browser, page_origin, api, session, "url")
    failures, asset_requests = asset_failures(browser)
    assert failures == []
    assert url_state["broken"] == [] and inline_state["broken"] == []
    assert url_state["images"] == inline_state["images"]
    urls = browser.execute_script("return window.__urls")
    # The links are absolute, to this service, whatever page hosts the player.
    assert all(url.startswith(api.url + "/assets/sha256:") for url in urls), urls[:3]
    if url_state["images"]:
        assert urls and asset_requests, "a session with images loads them by URL"

    shots = os.environ.get("RRSTORE_BROWSER_SHOTS")  # a directory to keep the two pictures in
    if shots:
        os.makedirs(shots, exist_ok=True)
        for mode, png in (("inline", inline_png), ("url", url_png)):
            open(os.path.join(shots, f"{session}.{mode}.png"), "wb").write(png)
        print(session, "images", url_state["images"], "links", len(urls), "asset requests", len(asset_requests))
    inline, url = Image.open(io.BytesIO(inline_png)).convert("RGB"), Image.open(io.BytesIO(url_png)).convert("RGB")
    share = differing_share(inline, url, 48)
    assert share <= TOLERANCE, f"{share:.2%} of the pixels differ"
    # The replay shows something: not a blank frame.
    assert len(inline.resize((64, 64)).getcolors(64 * 64)) > 4
