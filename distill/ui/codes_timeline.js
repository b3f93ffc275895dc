// The code grid as a scrollable timeline: levels × columns of coloured cells, the waveform under them on the same
// time axis, and a player whose playhead crosses both. Only the columns in view are drawn.
const AXIS = 18, LABELS = 104, WAVE_GAP = 6;

function niceStep(secondsPerColumn, cellWidth) {
  for (const s of [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600])
    if (s / secondsPerColumn * cellWidth >= 64) return s;
  return 1200;
}

function timeLabel(t) {
  if (t >= 60) { const m = Math.floor(t / 60), s = t - 60 * m; return `${m}:${s.toFixed(0).padStart(2, "0")}`; }
  return (Math.round(t * 100) / 100) + " s";
}

function render({ model, el }) {
  el.classList.add("distill-timeline");
  const wrap = document.createElement("div");
  wrap.style.cssText = "display:flex;align-items:flex-start;font:12px sans-serif;user-select:none;width:100%";
  const labels = document.createElement("div");
  labels.style.cssText = `width:${LABELS}px;flex:none;padding-top:${AXIS}px`;
  const scroller = document.createElement("div");
  scroller.className = "dt-scroller";
  scroller.style.cssText = "overflow-x:auto;overflow-y:hidden;flex:1 1 auto;min-width:0;position:relative;padding-bottom:2px";
  const style = document.createElement("style");  // a scrollbar that shows even where scrollbars overlay
  style.textContent = `.dt-scroller::-webkit-scrollbar{height:10px}.dt-scroller::-webkit-scrollbar-thumb{background:rgba(128,128,128,.55);border-radius:5px}
                       .dt-scroller::-webkit-scrollbar-track{background:rgba(128,128,128,.12)}.dt-scroller{scrollbar-width:thin}`;
  el.appendChild(style);
  const content = document.createElement("div");
  content.style.position = "relative";
  const canvas = document.createElement("canvas");
  canvas.style.cssText = "position:absolute;top:0;left:0;cursor:crosshair";
  const playhead = document.createElement("div");   // inside the content, so it scrolls with the cells
  playhead.className = "dt-playhead";
  playhead.style.cssText = "position:absolute;top:0;left:0;width:2px;margin-left:-1px;background:#e4572e;pointer-events:none;display:none";
  content.append(canvas, playhead); scroller.appendChild(content); wrap.append(labels, scroller); el.appendChild(wrap);
  // the player: a button and a readout in seconds (`secondsText`; a browser's own player shows a short sound as 0:00)
  const bar = element("div", "", `display:flex;align-items:center;gap:10px;margin:4px 0 0 ${LABELS}px;font:12px sans-serif`);
  const playButton = element("button", "dt-play", "min-width:76px;padding:2px 8px;cursor:pointer");
  const readout = element("span", "dt-readout", "font-variant-numeric:tabular-nums");
  bar.append(playButton, readout); el.appendChild(bar);

  let local = null, anchor = null, dragging = false;
  let audio = null, url = null, playing = false, frame = 0, refused = "";

  const hasWave = () => bytesOf(model.get("envelope")).length > 0;
  const gridHeight = () => AXIS + model.get("levels") * model.get("row_height");
  const totalHeight = () => gridHeight() + 2 + (hasWave() ? WAVE_GAP + model.get("wave_height") : 0);

  function layout() {
    const L = model.get("levels"), C = model.get("columns"), cw = model.get("cell_width"), rh = model.get("row_height");
    const roles = model.get("roles") || [];
    content.style.width = Math.max(1, C * cw) + "px";
    content.style.height = totalHeight() + "px";
    playhead.style.height = totalHeight() + "px";
    const rows = Array.from({ length: L }, (_, l) => {
      const d = document.createElement("div");
      d.textContent = `${l + 1} ${roles[l] || ""}`;
      d.style.cssText = `height:${rh}px;line-height:${rh}px;white-space:nowrap;overflow:hidden;font-weight:600`;
      return d;
    });
    if (hasWave()) {
      const d = document.createElement("div");
      d.className = "dt-wave-label";
      d.textContent = `wave · ${model.get("envelope_label")}`;
      const wh = model.get("wave_height");
      d.style.cssText = `height:${wh}px;line-height:${wh}px;margin-top:${WAVE_GAP + 2}px;white-space:nowrap;overflow:hidden;opacity:.7`;
      rows.push(d);
    }
    labels.replaceChildren(...rows);
    placePlayhead();
    draw();
  }

  function drawWave(ctx, x0, width, cw) {
    const u = bytesOf(model.get("envelope")), env = new Int8Array(u.buffer, u.byteOffset, u.byteLength);
    const S = model.get("envelope_steps"), n = env.length >> 1, wh = model.get("wave_height");
    const top = gridHeight() + 2 + WAVE_GAP, mid = top + wh / 2, half = wh / 2 - 1;
    ctx.fillStyle = "rgba(128,128,128,0.10)"; ctx.fillRect(0, top, width, wh);
    ctx.fillStyle = getComputedStyle(el).color || "#333"; ctx.globalAlpha = 0.7;
    for (let px = 0; px < width; px++) {   // each pixel: the (min, max) of the envelope steps under it
      const k0 = Math.floor((px + x0) / cw * S);
      if (k0 >= n) break;
      const k1 = Math.min(n, Math.max(k0 + 1, Math.floor((px + 1 + x0) / cw * S)));
      let lo = 127, hi = -127;
      for (let k = k0; k < k1; k++) { lo = Math.min(lo, env[2 * k]); hi = Math.max(hi, env[2 * k + 1]); }
      const y0 = mid - hi / 127 * half, y1 = mid - lo / 127 * half;
      ctx.fillRect(px, y0, 1, Math.max(1, y1 - y0));
    }
    ctx.globalAlpha = 1;
    return top;
  }

  function draw() {
    const L = model.get("levels"), C = model.get("columns"), cw = model.get("cell_width"), rh = model.get("row_height");
    const spc = model.get("seconds_per_column");
    const width = Math.max(1, Math.min(scroller.clientWidth || 800, C * cw)), height = totalHeight();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const x0 = scroller.scrollLeft;
    canvas.style.left = x0 + "px";   // the canvas covers only what is in view
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const rgb = bytesOf(model.get("colours")), marks = bytesOf(model.get("marks"));
    const idx = bytesOf(model.get("indices"));
    const c0 = Math.max(0, Math.floor(x0 / cw)), c1 = Math.min(C, Math.ceil((x0 + width) / cw));
    const gap = cw > 4 ? 1 : 0;
    ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.font = "10px sans-serif";
    for (let l = 0; l < L; l++) {
      const y = AXIS + l * rh;
      for (let c = c0; c < c1; c++) {
        const i = l * C + c, x = c * cw - x0;
        ctx.fillStyle = `rgb(${rgb[3 * i]},${rgb[3 * i + 1]},${rgb[3 * i + 2]})`;
        ctx.fillRect(x, y, cw - gap, rh - 1);
        const m = marks[i] || 0;
        if (m & 2) {  // blended: a diagonal stripe
          ctx.strokeStyle = "rgba(0,0,0,0.45)"; ctx.lineWidth = 1;
          ctx.beginPath(); ctx.moveTo(x, y + rh - 1); ctx.lineTo(x + cw - gap, y); ctx.stroke();
        }
        if (m & 1) {  // edited: a white corner
          ctx.fillStyle = "#fff";
          ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + Math.min(7, cw - gap), y); ctx.lineTo(x, y + Math.min(7, rh - 1)); ctx.fill();
        }
        if (cw >= 18 && idx.length >= 2 * (i + 1)) {
          ctx.fillStyle = "rgba(0,0,0,0.75)";
          ctx.fillText(String(idx[2 * i] | (idx[2 * i + 1] << 8)), x + (cw - gap) / 2, y + rh / 2);
        }
      }
    }
    const waveTop = hasWave() ? drawWave(ctx, x0, width, cw) : null;
    // time axis, labelled in seconds
    const step = niceStep(spc, cw);
    ctx.strokeStyle = "rgba(128,128,128,0.8)"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
    ctx.fillStyle = getComputedStyle(el).color || "#333";
    for (let t = Math.ceil(x0 / cw * spc / step) * step; t / spc * cw - x0 < width; t += step) {
      const x = Math.round(t / spc * cw - x0) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, AXIS - 6); ctx.lineTo(x, AXIS); ctx.stroke();
      ctx.fillText(timeLabel(t), x + 3, 7);
    }
    // selection: outlined on the cells, shaded on the waveform
    const sel = local || model.get("selection");
    if (sel && sel.end > sel.start) {
      const x = sel.start * cw - x0, y = AXIS + sel.level0 * rh;
      const w = (sel.end - sel.start) * cw - gap, h = (sel.level1 - sel.level0 + 1) * rh - 1;
      ctx.lineWidth = 3; ctx.strokeStyle = "#000"; ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      ctx.lineWidth = 1; ctx.strokeStyle = "#fff"; ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      if (waveTop !== null) { ctx.fillStyle = "rgba(40,120,255,0.22)"; ctx.fillRect(x, waveTop, w + gap, model.get("wave_height")); }
    }
  }

  function cellAt(ev) {
    const r = canvas.getBoundingClientRect();
    const L = model.get("levels"), C = model.get("columns"), cw = model.get("cell_width"), rh = model.get("row_height");
    const x = ev.clientX - r.left + scroller.scrollLeft, y = ev.clientY - r.top - AXIS;
    // the time axis and the waveform stand for every level
    return { column: Math.min(C - 1, Math.max(0, Math.floor(x / cw))), level: Math.min(L - 1, Math.max(0, Math.floor(y / rh))),
             axis: y < 0 || y >= L * rh };
  }

  function region(a, b) {
    const all = a.axis, L = model.get("levels");
    return { level0: all ? 0 : Math.min(a.level, b.level), level1: all ? L - 1 : Math.max(a.level, b.level),
             start: Math.min(a.column, b.column), end: Math.max(a.column, b.column) + 1 };
  }

  function commit(sel) { local = null; model.set("selection", sel); model.save_changes(); draw(); }

  function onDown(ev) {
    if (ev.button !== 0) return;
    const p = cellAt(ev);
    if (ev.shiftKey && anchor) { commit(region(anchor, p)); return; }
    anchor = p; dragging = true; local = region(p, p); draw();
    ev.preventDefault();
  }
  function onMove(ev) {
    if (dragging) { local = region(anchor, cellAt(ev)); draw(); return; }
    if (ev.target !== canvas) return;
    const p = cellAt(ev);
    if (p.axis) { canvas.title = `${(p.column * model.get("seconds_per_column")).toFixed(2)} s`; return; }
    const C = model.get("columns"), idx = bytesOf(model.get("indices")), i = p.level * C + p.column;
    const code = idx.length >= 2 * (i + 1) ? (idx[2 * i] | (idx[2 * i + 1] << 8)) : "?";
    const role = (model.get("roles") || [])[p.level] || "";
    canvas.title = `level ${p.level + 1} ${role} · ${(p.column * model.get("seconds_per_column")).toFixed(2)} s · code ${code}`;
  }
  function onUp(ev) { if (!dragging) return; dragging = false; commit(region(anchor, cellAt(ev))); }

  // --- the player and its playhead
  function showReadout(t) {
    const label = model.get("sound_label"), seconds = model.get("sound_seconds");
    playButton.disabled = !audio;
    playButton.textContent = playing ? "■ Stop" : "▶ Play";
    if (!audio) { readout.textContent = "nothing to play yet"; return; }
    if (t === undefined) t = Math.min(audio.currentTime, seconds);   // a label changed while it plays: the time now
    const from = model.get("sound_start") > 0 ? ` from ${secondsText(model.get("sound_start"))}` : "";
    readout.textContent = playing ? `${label} · ${secondsText(t)} / ${secondsText(seconds)}`
                                  : `${label} · ${secondsText(seconds)}${from}${refused}`;
  }
  function placePlayhead(t) {
    if (!playing || t === undefined) { playhead.style.display = playing ? playhead.style.display : "none"; return; }
    const x = (model.get("sound_start") + t) / model.get("seconds_per_column") * model.get("cell_width");
    playhead.style.left = x + "px"; playhead.style.display = "block";
    const w = scroller.clientWidth;   // keep the playhead in view while a long sound plays
    if (w && (x < scroller.scrollLeft || x > scroller.scrollLeft + w - 16)) scroller.scrollLeft = Math.max(0, x - w / 4);
  }
  function tick() {
    if (!playing) return;
    const t = Math.min(audio.currentTime, model.get("sound_seconds"));
    placePlayhead(t); showReadout(t);
    if (audio.ended) { stop(); return; }
    frame = requestAnimationFrame(tick);
  }
  function stop() {
    playing = false; cancelAnimationFrame(frame);
    if (audio) audio.pause();
    playhead.style.display = "none";
    showReadout();
  }
  function play() {
    if (!audio) return;
    stop(); refused = "";
    audio.currentTime = 0;
    playing = true;
    startPlaying(audio, (words) => { refused = words; stop(); });
    frame = requestAnimationFrame(tick);
  }
  function loadSound() {
    stop();
    url = wavUrl(model.get("sound"), url);
    audio = url ? new Audio(url) : null;
    if (audio) { audio.preload = "auto"; audio.addEventListener("ended", () => { if (playing) stop(); }); }
    refused = ""; showReadout();
  }
  playButton.addEventListener("click", () => (playing ? stop() : play()));

  // the width in view, so that Python can zoom a short grid to fill it
  function reportWidth() {
    const w = scroller.clientWidth;
    if (w > 0 && Math.abs(w - model.get("view_width")) >= 8) { model.set("view_width", w); model.save_changes(); }
  }

  canvas.addEventListener("mousedown", onDown);
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  scroller.addEventListener("scroll", draw);
  const resize = new ResizeObserver(() => { reportWidth(); draw(); });
  resize.observe(scroller);
  for (const k of ["levels", "columns", "cell_width", "row_height", "roles", "envelope", "envelope_label", "wave_height"])
    model.on(`change:${k}`, layout);
  for (const k of ["colours", "marks", "indices", "selection", "seconds_per_column", "envelope_steps"]) model.on(`change:${k}`, draw);
  model.on("change:sound", loadSound);
  for (const k of ["sound_label", "sound_seconds", "sound_start"]) model.on(`change:${k}`, () => showReadout());
  model.on("msg:custom", (msg) => {
    if (!msg) return;
    if (msg.scroll_to !== undefined) scroller.scrollLeft = Math.max(0, msg.scroll_to * model.get("cell_width") - scroller.clientWidth / 3);
    if (msg.play) play();
    if (msg.stop) stop();
  });
  loadSound();
  layout();
  return () => {
    stop();
    if (url) URL.revokeObjectURL(url);
    window.removeEventListener("mousemove", onMove); window.removeEventListener("mouseup", onUp); resize.disconnect();
  };
}
export default { render };
