"use strict";
// The viewer's list and player pages. They share the API's origin; a token, when the server
// wants one, is kept in sessionStorage and sent as Authorization. The replay runs in a frame
// on another origin (the service's replay port), sandboxed, that gets the events by
// postMessage: a recorded page is hostile input and reaches neither the token nor the API.
const $ = id => document.getElementById(id);
const viewer = window.__viewer = {ready: false, rows: 0, error: null};
window.addEventListener("error", event => { viewer.error = String(event.message); });
class Stopped extends Error {}

const tokenKey = "rrstore-token";
function headers() {
  const token = sessionStorage.getItem(tokenKey);
  return token ? {Authorization: "Bearer " + token} : {};
}
function askForToken(message) {
  viewer.askedForToken = message;
  $("login").hidden = false;
  $("login-message").textContent = message;
  $("token").focus();
}
async function api(path) {
  const response = await fetch(path, {headers: headers()});
  if (response.status === 401) {
    askForToken(sessionStorage.getItem(tokenKey)
      ? "The server refused that token: check it and enter it again."
      : "This server needs a bearer token.");
    sessionStorage.removeItem(tokenKey);
    throw new Stopped();
  }
  if (!response.ok) {
    let detail = "";
    // The API's errors are {"error": {"code", "message"}}.
    try { const body = await response.json(); detail = (body.error && body.error.message) || ""; } catch (_) {}
    const error = new Error(detail || "status " + response.status);
    error.status = response.status;
    throw error;
  }
  return response;
}
function say(text) { $("message").textContent = text; }
function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(2) + " MiB";
}
function duration(ms) {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return seconds + " s";
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${seconds % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }
function failed(error) {
  if (error instanceof Stopped) return;
  say(error.status === 404 ? "Not found: " + error.message : "Could not load: " + error.message);
  viewer.failed = error.message;
}

// The list: newest first, a page at a time by the API's cursor.
// rrstore's own forms, whatever the service answers by default (`--api-compat original`
// makes plain reads answer as the replaced system did, for its viewer).
const ownForm = url => url + (url.includes("?") ? "&" : "?") + "format=rrstore";

async function listPage(url) {
  const response = await api(ownForm(url));
  const recordings = await response.json();
  viewer.listed = (viewer.listed || []).concat(recordings);
  const body = $("recordings").tBodies[0];
  $("recordings").hidden = false;
  for (const recording of recordings) {
    const row = body.insertRow();
    row.dataset.id = recording.id;
    const thumb = cell(row, "");
    const link = document.createElement("a");
    link.href = "/viewer/recordings/" + encodeURIComponent(recording.id);
    link.textContent = recording.id;
    row.insertCell().appendChild(link);
    cell(row, recording.created_at.replace("T", " ").replace(/\.\d+Z$/, " UTC"));
    const page = cell(row, recording.first_url || "—");
    page.className = "url";
    page.title = recording.first_url || "";
    cell(row, recording.duration_ms == null ? "—" : duration(recording.duration_ms));
    cell(row, recording.event_count);
    cell(row, recording.received_bytes == null ? "—" : bytes(recording.received_bytes));
    const alone = cell(row, "…"), shared = cell(row, "…");
    viewer.rows += 1;
    if (recording.screenshot) thumbnail(recording.id, thumb);
    api("/recordings/" + encodeURIComponent(recording.id) + "/storage").then(r => r.json()).then(storage => {
      // Its events as kept (references in place of assets) and the assets only it names.
      alone.textContent = bytes(recording.byte_count + storage.asset_bytes_in_this_recording_only);
      shared.textContent = bytes(storage.asset_bytes_shared_with_other_recordings);
    }).catch(failed);
  }
  const next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
  $("more").hidden = !next;
  $("more").onclick = () => listPage(next[1]).catch(failed);
  say(viewer.rows ? "" : "No recordings yet.");
  viewer.ready = true;
}
async function thumbnail(id, into) {
  const response = await api("/recordings/" + encodeURIComponent(id) + "/screenshot");
  const image = new Image();
  image.alt = "screenshot of " + id;
  image.className = "thumbnail";
  image.src = URL.createObjectURL(await response.blob());
  into.appendChild(image);
}

// The player: events with their assets as URLs, replayed in the sandboxed frame.
// The frame may load before or after the events: each side waits for the other.
const frameLink = {ready: false, events: null, origin: null};
function sendEvents() {
  if (frameLink.ready && frameLink.events) {
    $("replay").contentWindow.postMessage({type: "events", events: frameLink.events}, frameLink.origin);
  }
}
function listenToFrame() {
  const frame = $("replay");
  frameLink.origin = new URL(frame.dataset.src).origin;
  window.addEventListener("message", event => {
    if (event.source !== frame.contentWindow || event.origin !== frameLink.origin) return;
    const message = event.data || {};
    if (message.type === "ready") { frameLink.ready = true; sendEvents(); }
    else if (message.type === "playing") viewer.ready = true;
    else if (message.type === "settled") viewer.settled = message;
    else if (message.type === "error") viewer.frameError = message.message;
  });
  frame.src = frame.dataset.src;
}

async function player(id) {
  $("title").textContent = id;
  const recording = await (await api("/recordings/" + encodeURIComponent(id))).json();
  // Assets as cacheable URLs; `?assets=inline` on the page replays them inlined instead.
  const mode = new URLSearchParams(location.search).get("assets") === "inline" ? "inline" : "url";
  const text = await (await api(ownForm("/recordings/" + encodeURIComponent(id) + "/events?assets=" + mode))).text();
  const events = text.split("\n").filter(line => line.trim()).map(line => JSON.parse(line));
  viewer.events = events.length;
  viewer.received = recording.received_bytes;
  const start = events.length ? events[0].timestamp : 0;
  viewer.duration = events.length ? events[events.length - 1].timestamp - start : 0;
  // Page views: Meta events, a repeat of the same page (rrweb's periodic checkouts) folded.
  const pages = events.filter(event => event.type === 4 && event.data && event.data.href)
    .filter((event, i, all) => i === 0 || all[i - 1].data.href !== event.data.href);
  const full = events.filter(event => event.type === 2);
  viewer.lastFullSnapshot = full.length ? full[full.length - 1].timestamp - start : 0;
  $("summary").textContent = `${recording.created_at} · ${events.length} events · ${(viewer.duration / 1000).toFixed(1)} s · first page ${pages.length ? pages[0].data.href : "unknown"}`;
  for (const page of pages) {
    const button = document.createElement("button");
    button.textContent = `${((page.timestamp - start) / 1000).toFixed(1)} s ${page.data.href}`;
    button.onclick = () => viewer.goto(page.timestamp - start, true);
    $("pages").appendChild(button);
  }
  $("replay").hidden = false;
  viewer.goto = (offset, play) => {
    viewer.settled = null;
    $("replay").contentWindow.postMessage({type: "goto", offset, play: !!play}, frameLink.origin);
  };
  frameLink.events = events;
  sendEvents();
  storage(id).catch(failed);
}
async function storage(id) {
  const storage = await (await api("/recordings/" + encodeURIComponent(id) + "/storage")).json();
  const kinds = {};
  for (const asset of storage.assets) {
    const kind = kinds[asset.kind] = kinds[asset.kind] || {count: 0, bytes: 0, shared: 0};
    kind.count += 1; kind.bytes += asset.size; if (asset.recordings > 1) kind.shared += 1;
  }
  for (const [name, kind] of Object.entries(kinds)) {
    const row = $("kinds").insertRow();
    cell(row, name); cell(row, kind.count); cell(row, bytes(kind.bytes)); cell(row, kind.shared);
  }
  for (const asset of storage.assets) {
    const row = $("assets").insertRow();
    cell(row, asset.digest.slice(0, 12)).title = asset.digest;
    cell(row, asset.kind); cell(row, bytes(asset.size)); cell(row, asset.recordings);
  }
  $("storage-summary").textContent = `Received ${viewer.received == null ? "(not counted)" : bytes(viewer.received)}; `
    + `kept: events ${bytes(storage.event_bytes)} (references in place of assets), assets only this recording names `
    + `${bytes(storage.asset_bytes_in_this_recording_only)}, assets it shares with your other recordings `
    + `${bytes(storage.asset_bytes_shared_with_other_recordings)} (stored once). Sizes before compression.`;
  $("storage").hidden = false;
  viewer.storage = storage;
}

function start() {
  $("login").onsubmit = event => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, $("token").value.trim());
    location.reload();
  };
  $("forget").hidden = !sessionStorage.getItem(tokenKey);
  $("forget").onclick = () => { sessionStorage.removeItem(tokenKey); location.reload(); };
  const page = document.body.dataset.page;
  if (page === "list") {
    // 50 a page unless the address asks for another number (1 to 1000).
    const asked = parseInt(new URLSearchParams(location.search).get("limit"), 10);
    const limit = asked >= 1 && asked <= 1000 ? asked : 50;
    listPage("/recordings?limit=" + limit).catch(failed);
  }
  else if (page === "player") {
    const id = decodeURIComponent(location.pathname.replace(/^\/viewer\/recordings\//, ""));
    listenToFrame();
    player(id).catch(failed);
  }
}
start();
