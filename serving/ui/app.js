// EmotionThinker page: upload or record a clip, POST it to /analyze, draw what comes back.
// Plain JS, no build step. The server returns the waveform envelope and the F0 contour (contour=true,
// waveform=true), so the page never decodes audio formats itself; a recording is converted to WAV here
// because the service accepts wav, flac, mp3 and ogg only.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = { agree: "#1a7f37", disagree: "#cf222e", unknown: "#6e7781" };
let recorded = null; // a WAV Blob from the microphone, used instead of the file input when set
let recorder = null;

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function messageOf(body) {
  if (Array.isArray(body)) body = body[0] || {};
  return (body && body.error) || JSON.stringify(body);
}

function agreement(cue) {
  return cue.agrees === true ? "agree" : cue.agrees === false ? "disagree" : "unknown";
}

async function analyze() {
  const file = recorded || $("file").files[0];
  if (!file) {
    setStatus("error", "Choose an audio file or record a clip first.");
    return;
  }
  const form = new FormData();
  form.append("audio", file, "clip");
  form.append("contour", "true");
  form.append("waveform", "true");
  const budget = $("max-tokens").value.trim();
  if (budget) form.append("max_new_tokens", budget);
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  setStatus("working", "Analysing\u2026");
  $("analyze").disabled = true;
  try {
    const resp = await fetch("/analyze", { method: "POST", body: form, headers });
    const body = await resp.json().catch(() => ({ error: "the response was not JSON" }));
    if (!resp.ok) {
      setStatus("error", resp.status + ": " + messageOf(body));
      return;
    }
    render(body);
    setStatus("done", "Answered in " + Math.round(body.timings_ms.total_ms) + " ms.");
  } catch (err) {
    setStatus("error", "The service could not be reached: " + err);
  } finally {
    $("analyze").disabled = false;
  }
}

// -- rendering --------------------------------------------------------------------------------------------------
function render(result) {
  $("result").hidden = false;
  $("model-tag").textContent = result.model_tag;
  $("emotion").textContent = result.emotion || "(no valid label)";
  $("well-formed").textContent = result.well_formed ? "" : "the reply is not in the <think>/<answer> format";
  renderRationale(result.rationale || "", result.cues || []);
  $("caption").textContent = result.caption;
  $("raw").textContent = result.raw_output;
  renderLevels(result.prosody);
  const t = result.timings_ms;
  $("timings").textContent = `decode ${t.decode_ms} ms \u00b7 prosody ${t.prosody_ms} ms \u00b7 generation ` +
    `${t.generate_ms} ms (batch of ${result.batch_size}, ${result.new_tokens} tokens) \u00b7 total ${t.total_ms} ms`;
  // draw after layout, so that the canvases have their width
  requestAnimationFrame(() => {
    if (result.waveform) drawWaveform($("wave"), result.waveform);
    if (result.contour) drawContour($("pitch"), result.contour, result.prosody, result.cues || [], result.duration_s);
  });
}

function renderRationale(text, cues) {
  const el = $("rationale");
  el.textContent = "";
  let at = 0;
  for (const cue of cues) {
    if (cue.start < at) continue;
    el.append(document.createTextNode(text.slice(at, cue.start)));
    const mark = document.createElement("mark");
    mark.className = "cue " + agreement(cue);
    mark.textContent = text.slice(cue.start, cue.end);
    mark.title = `${cue.attribute}: ${cue.value} (measured: ${cue.measured ?? "n/a"})`;
    el.append(mark);
    at = cue.end;
  }
  el.append(document.createTextNode(text.slice(at)));
  if (!text) el.textContent = "(no <think> block in the reply)";
  const list = $("cues");
  list.textContent = "";
  for (const cue of cues) {
    const li = document.createElement("li");
    li.className = agreement(cue);
    li.dataset.attribute = cue.attribute;
    const verdict = cue.agrees === true ? "\u2713" : cue.agrees === false ? "\u2717" : "?";
    li.textContent = `${verdict} ${cue.attribute} ${cue.value} \u2014 measured ${cue.measured ?? "n/a"}`;
    list.append(li);
  }
}

function renderLevels(prosody) {
  const body = $("levels").querySelector("tbody");
  body.textContent = "";
  const v = prosody.values || {};
  const rows = [
    ["pitch", prosody.levels.pitch, v.f0_median_hz != null ? `${v.f0_median_hz} Hz median` : ""],
    ["energy", prosody.levels.energy, v.active_level_dbfs != null ? `${v.active_level_dbfs} dBFS` : ""],
    ["speed", prosody.levels.speed, v.speed_syl_s != null ? `${v.speed_syl_s} syl/s` : ""],
    ["intonation", prosody.levels.intonation, v.f0_range_st != null ? `${v.f0_range_st} st range` : ""],
    ["gender", prosody.levels.gender, ""],
    ["voicing", prosody.levels.voicing, v.voiced_s != null ? `${v.voiced_s} s voiced` : ""],
  ];
  for (const [name, level, value] of rows) {
    const tr = document.createElement("tr");
    for (const text of [name, level ?? "\u2013", value]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

function sizeCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(300, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.round(Number(canvas.getAttribute("height")) * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, w: canvas.width / ratio, h: canvas.height / ratio };
}

function drawWaveform(canvas, wave) {
  const { ctx, w, h } = sizeCanvas(canvas);
  ctx.clearRect(0, 0, w, h);
  const mid = h / 2;
  const peak = Math.max(1e-3, ...wave.max.map(Math.abs), ...wave.min.map(Math.abs));
  ctx.strokeStyle = "#1f6feb";
  ctx.beginPath();
  const n = wave.max.length;
  for (let i = 0; i < n; i++) {
    const x = (i / Math.max(1, n - 1)) * w;
    ctx.moveTo(x, mid - (wave.max[i] / peak) * (mid - 4));
    ctx.lineTo(x, mid - (wave.min[i] / peak) * (mid - 4) + 0.5);
  }
  ctx.stroke();
  ctx.fillStyle = "#57606a";
  ctx.font = "11px system-ui";
  ctx.fillText(`${wave.duration_s.toFixed(2)} s`, w - 44, h - 6);
}

function drawContour(canvas, contour, prosody, cues, duration) {
  const { ctx, w, h } = sizeCanvas(canvas);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 44, r: 12, t: 16, b: 22 };
  const voiced = contour.f0_hz.filter((f) => f != null);
  const lo = voiced.length ? Math.min(...voiced) * 0.85 : 50;
  const hi = voiced.length ? Math.max(...voiced) * 1.15 : 400;
  const x = (t) => pad.l + (t / Math.max(duration, 1e-3)) * (w - pad.l - pad.r);
  const y = (f) => h - pad.b - ((f - lo) / Math.max(hi - lo, 1e-3)) * (h - pad.t - pad.b);
  // axes
  ctx.strokeStyle = "#d0d7de";
  ctx.fillStyle = "#57606a";
  ctx.font = "11px system-ui";
  ctx.beginPath();
  for (const f of [lo, (lo + hi) / 2, hi]) {
    ctx.moveTo(pad.l, y(f));
    ctx.lineTo(w - pad.r, y(f));
    ctx.fillText(`${Math.round(f)}`, 6, y(f) + 4);
  }
  ctx.stroke();
  ctx.fillText("Hz", 30, pad.t - 4);
  ctx.fillText("0 s", pad.l, h - 6);
  ctx.fillText(`${duration.toFixed(2)} s`, w - pad.r - 36, h - 6);
  // the contour: voiced runs only, no line across unvoiced gaps
  ctx.strokeStyle = "#0969da";
  ctx.lineWidth = 2;
  ctx.beginPath();
  let open = false;
  contour.times_s.forEach((t, i) => {
    const f = contour.f0_hz[i];
    if (f == null) { open = false; return; }
    if (!open) ctx.moveTo(x(t), y(f)); else ctx.lineTo(x(t), y(f));
    open = true;
  });
  ctx.stroke();
  ctx.lineWidth = 1;
  if (!voiced.length) {
    ctx.fillText("no voiced frames: no pitch to draw", pad.l + 10, pad.t + 16);
  }
  drawCueMarks(ctx, contour, prosody, cues, { x, y, w, h, pad, lo, hi });
}

function drawCueMarks(ctx, contour, prosody, cues, g) {
  const times = contour.times_s.filter((_, i) => contour.f0_hz[i] != null);
  const values = contour.f0_hz.filter((f) => f != null);
  let row = 0;
  for (const cue of cues) {
    const colour = COLOURS[agreement(cue)];
    const label = `\u201c${cue.phrase}\u201d \u2192 ${cue.attribute} ${cue.value}; measured ${cue.measured ?? "n/a"}`;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.font = "bold 12px system-ui";
    const median = prosody.values && prosody.values.f0_median_hz;
    if (cue.attribute === "pitch" && median != null && values.length) {
      // the level is about the median F0: a dashed line at it
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(g.pad.l, g.y(median));
      ctx.lineTo(g.w - g.pad.r, g.y(median));
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(label, g.pad.l + 6, g.y(median) - 5);
    } else if (cue.attribute === "intonation" && values.length > 1) {
      // the shape is about the whole voiced span: an arrow from its start to its end
      const k = Math.max(1, Math.floor(values.length / 5));
      const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
      const x0 = g.x(times[0]), x1 = g.x(times[times.length - 1]);
      const y0 = g.y(mean(values.slice(0, k))), y1 = g.y(mean(values.slice(-k)));
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      const a = Math.atan2(y1 - y0, x1 - x0);
      ctx.lineTo(x1 - 10 * Math.cos(a - 0.4), y1 - 10 * Math.sin(a - 0.4));
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - 10 * Math.cos(a + 0.4), y1 - 10 * Math.sin(a + 0.4));
      ctx.stroke();
      ctx.lineWidth = 1;
      ctx.fillText(label, Math.min(x0 + 6, g.w - 300), Math.max(g.pad.t + 12, Math.min(y0, y1) - 8));
    } else {
      // energy, speed, gender, voicing describe the clip as a whole: a labelled band along the top
      const top = g.pad.t + 2 + 16 * row++;
      ctx.globalAlpha = 0.12;
      ctx.fillRect(g.pad.l, top - 11, g.w - g.pad.l - g.pad.r, 15);
      ctx.globalAlpha = 1;
      ctx.fillText(label, g.pad.l + 6, top);
    }
  }
}

// -- recording: microphone -> PCM16 WAV ---------------------------------------------------------------------------
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

async function toWav(blob) {
  const context = new (window.AudioContext || window.webkitAudioContext)();
  const audio = await context.decodeAudioData(await blob.arrayBuffer());
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const data = audio.getChannelData(c);
    for (let i = 0; i < audio.length; i++) mono[i] += data[i] / audio.numberOfChannels;
  }
  context.close();
  return encodeWav(mono, audio.sampleRate);
}

async function toggleRecording() {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    setStatus("error", "This browser cannot record here (it needs https or localhost, and microphone access).");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    setStatus("error", "No microphone: " + err.message);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    button.classList.remove("recording");
    button.textContent = "\u25cf Record";
    try {
      recorded = await toWav(new Blob(chunks, { type: recorder.mimeType }));
      $("recorded").textContent = `recorded ${(recorded.size / 1024).toFixed(0)} kB (used instead of the file)`;
      setStatus("idle", "Recorded. Press Analyse.");
    } catch (err) {
      setStatus("error", "The recording could not be converted: " + err);
    }
    recorder = null;
  };
  recorder.start();
  button.classList.add("recording");
  button.textContent = "\u25a0 Stop";
  setStatus("working", "Recording\u2026 press Stop when done.");
}

$("analyze").addEventListener("click", analyze);
$("record").addEventListener("click", toggleRecording);
$("file").addEventListener("change", () => { recorded = null; $("recorded").textContent = ""; });
window.EmotionThinkerUI = { render, encodeWav };
