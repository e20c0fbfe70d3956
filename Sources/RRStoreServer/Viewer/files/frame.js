"use strict";
// On the replay origin (not the viewer's: no access to its page, its token or the API, and
// a policy that forbids every connection): takes the events from the page that framed it
// and replays them in rrweb-player.
let player = null;
const report = message => window.parent.postMessage(message, "*");
window.addEventListener("error", event => report({type: "error", message: String(event.message)}));

function settle() {
  const frame = document.querySelector(".replayer-wrapper iframe");
  const doc = frame && frame.contentDocument;
  if (!doc) return setTimeout(settle, 100);
  const images = Array.from(doc.images);
  if (images.some(image => !image.complete)) return setTimeout(settle, 100);
  report({type: "settled", images: images.length,
          broken: images.filter(image => image.naturalWidth === 0).map(image => image.src.slice(0, 120))});
}

window.addEventListener("message", event => {
  if (event.source !== window.parent) return;
  const message = event.data || {};
  if (message.type === "events" && !player) {
    const events = message.events;
    const meta = events.find(e => e.type === 4 && e.data && e.data.width > 0 && e.data.height > 0) || {data: {width: 1024, height: 768}};
    // The recorded viewport's shape, as large as the frame allows with the controller
    // (timeline, play/pause, speed, skip inactivity: 80 px) below it.
    const room = {width: document.documentElement.clientWidth - 4, height: document.documentElement.clientHeight - 84};
    const scale = Math.min(room.width / meta.data.width, room.height / meta.data.height);
    const width = Math.max(320, Math.floor(meta.data.width * scale));
    const height = Math.max(200, Math.floor(meta.data.height * scale));
    player = new rrwebPlayer({target: document.getElementById("player"),
      props: {events, width, height, autoPlay: false, skipInactive: true, showController: true, mouseTail: false}});
    // The Replayer draws its first full snapshot as a poster on a timer of its own; a goto
    // before that would be drawn over by it. Say "playing" once it is drawn.
    const replayer = player.getReplayer();
    const hasSnapshot = events.some(e => e.type === 2);
    const drawn = () => (!hasSnapshot || replayer.firstFullSnapshot) ? report({type: "playing"}) : setTimeout(drawn, 10);
    drawn();
  } else if (message.type === "goto" && player) {
    player.goto(Number(message.offset) || 0, !!message.play);
    setTimeout(settle, 300);
  }
});
report({type: "ready"});
