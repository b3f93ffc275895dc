// What Distill's front ends share. `distill.ui.common.widget_module` puts this file before each widget's own module.

// A synced bytes value (DataView, ArrayBuffer or typed array) as a Uint8Array.
function bytesOf(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (v.buffer) return new Uint8Array(v.buffer, v.byteOffset || 0, v.byteLength);
  return new Uint8Array(v);
}

// An object URL for WAV bytes, or null when there are none (so nothing asks the browser to load an empty file);
// `old`, the URL it replaces, is let go of.
function wavUrl(value, old) {
  if (old) URL.revokeObjectURL(old);
  const b = bytesOf(value);
  return b.length ? URL.createObjectURL(new Blob([b], { type: "audio/wav" })) : null;
}

// Start `audio`; when the browser refuses (one that wants a click on the page first), `refused(words)` says so.
function startPlaying(audio, refused) {
  const started = audio.play();
  if (started && started.catch) started.catch((e) => refused(` · the browser did not play it (${e.name}): press ▶ Play`));
}

// A new element: `tag`, with a class and an inline style when given.
function element(tag, className = "", css = "") {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (css) e.style.cssText = css;
  return e;
}

// A time in seconds as every Distill player shows it: "0.65 s", "12.3 s", "1:05.0" (a browser's own player reads
// anything under a second as 0:00).
function secondsText(t) {
  if (!isFinite(t)) return "–";
  if (t >= 60) { const m = Math.floor(t / 60), s = t - 60 * m; return `${m}:${s.toFixed(1).padStart(4, "0")}`; }
  return t.toFixed(t < 10 ? 2 : 1) + " s";
}
