// One sound with a ▶ Play / ■ Stop button, a bar that shows (and, clicked, moves) where it is, and its time in
// seconds: a browser's own player reads "0:00 / 0:00" for anything under a second. Python can start and stop it
// (`SoundPlayer.play()`), so a button that makes a sound can also play it. While it holds no sound there is no
// <audio> element at all, so nothing asks the browser to load an empty file.

function render({ model, el }) {
  el.classList.add("distill-player");   // its width and whether it shows at all are the widget's layout: el's style stays theirs
  const box = element("div", "", "display:flex;flex-wrap:nowrap;align-items:center;gap:8px;font:12px sans-serif;min-height:28px;width:100%");
  const button = element("button", "dp-play", "min-width:70px;padding:2px 8px;cursor:pointer");
  const bar = element("div", "dp-bar", "flex:1 1 auto;min-width:60px;height:6px;border-radius:3px;background:rgba(128,128,128,.25);cursor:pointer;position:relative");
  const fill = element("div", "", "position:absolute;left:0;top:0;bottom:0;width:0;border-radius:3px;background:#1976d2");
  bar.appendChild(fill);
  const readout = element("span", "dp-readout", "font-variant-numeric:tabular-nums;white-space:nowrap");
  box.append(button, bar, readout);
  el.appendChild(box);

  let audio = null, url = null, frame = 0, refused = "";
  const length = () => (audio && isFinite(audio.duration) && audio.duration > 0 ? audio.duration : model.get("seconds"));
  const playing = () => !!audio && !audio.paused && !audio.ended;

  function show() {
    button.disabled = !audio;
    button.textContent = playing() ? "■ Stop" : "▶ Play";
    const t = audio ? audio.currentTime : 0, n = length();
    fill.style.width = (audio && n > 0 ? Math.min(100, 100 * t / n) : 0) + "%";
    readout.textContent = !audio ? "no sound" : (t > 0 || playing() ? `${secondsText(t)} / ${secondsText(n)}` : secondsText(n)) + refused;
  }
  function tick() { show(); if (playing()) frame = requestAnimationFrame(tick); }
  function play(fromStart) {
    if (!audio) return;
    if (fromStart || audio.ended) audio.currentTime = 0;
    refused = "";
    startPlaying(audio, (words) => { refused = words; show(); });
    cancelAnimationFrame(frame); frame = requestAnimationFrame(tick);
  }
  function stop() { if (audio) audio.pause(); cancelAnimationFrame(frame); show(); }

  function load() {
    if (audio) { audio.pause(); audio.remove(); audio = null; }
    url = wavUrl(model.get("value"), url);
    if (url) {
      audio = document.createElement("audio");   // in the page (hidden) so that it can be found and watched
      audio.preload = "auto"; audio.style.display = "none"; audio.loop = model.get("loop"); audio.src = url;
      for (const ev of ["loadedmetadata", "pause", "ended", "play"]) audio.addEventListener(ev, show);
      el.appendChild(audio);
    }
    refused = ""; show();
  }

  button.addEventListener("click", () => (playing() ? stop() : play(false)));
  bar.addEventListener("click", (ev) => {
    if (!audio) return;
    const r = bar.getBoundingClientRect();
    audio.currentTime = Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)) * length();
    show();
  });
  model.on("change:value", load);
  model.on("change:seconds", show);
  model.on("change:loop", () => { if (audio) audio.loop = model.get("loop"); });
  model.on("msg:custom", (msg) => { if (msg && msg.play) play(true); if (msg && msg.stop) stop(); });
  load();
  return () => { stop(); if (audio) audio.remove(); if (url) URL.revokeObjectURL(url); };
}
export default { render };
