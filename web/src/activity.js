// The activity page: live uPlot charts of cinder's activity streams.
//
//   activity:server          connections, channels, documents; messages/s; memory (RSS)
//   activity:doc:<name>      one document: updates/s, awareness/s, clients (?doc=, default lobby)
//   activity:<stream>        a business series fed by POST /api/events (?stream=, default signups)
//
// Each stream's join reply carries the server's kept history, so a chart is full the moment it is
// joined; every `sample` pushed afterwards is appended, and only the last WINDOW are kept. A rejoin
// (after a reconnect) replaces the series with the new reply's history, so nothing is doubled.
//
// Test hooks: every chart container has data-topic (the topic it draws) and data-points (points
// plotted now); window.cinderActivity = { socket, streams, charts } for tests and debugging.
import './style.css';
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { connectSocket, transportName } from './socket.js';

const WINDOW = 300;       // points per chart: 5 minutes at the default 1 s interval
const PLOT_HEIGHT = 170;  // CSS pixels of plot and axes (the legend comes below)
const MB = 1024 * 1024;
const COLORS = { orange: '#ea580c', blue: '#2563eb', green: '#16a34a', purple: '#7c3aed', grey: '#78716c' };

const query = new URLSearchParams(location.search);
const socket = connectSocket();

// A business stream's name, as the server's activity_stream_name_valid checks it. Checked here
// too because the other names are not refused but are other streams: "server" would join
// activity:server a second time on this socket, and the server would close the first channel.
function validStreamName(name) {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name) && name !== 'server' && name !== 'cluster' && !name.startsWith('doc');
}

// --- formatting ---------------------------------------------------------------------------------

// Short numbers for legends and axes: 12, 3.4, 1.2k, 5.6M.
function fmt(v, digits = 1) {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

const fmtCount = (v) => fmt(v, 0);

// --- charts --------------------------------------------------------------------------------------

// Counts never go below zero and an idle server (all zeros) still gets a readable axis.
function fromZero(u, min, max) {
  return [0, max > 0 ? max * 1.15 : 1];
}

// Wall-clock time of a sample (uPlot's x: seconds), as the legend and the time axis show it.
function clockTime(seconds) {
  if (seconds == null) return '–';
  const d = new Date(seconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

// The x axis: plain clock times, no date line (a window is minutes long), spaced to stay legible.
function timeAxis() {
  return {
    stroke: COLORS.grey,
    size: 28,
    space: 70,
    grid: { stroke: '#eeedeb', width: 1 },
    ticks: { show: false },
    values: (u, splits) => splits.map(clockTime),
  };
}

// A y axis: counts get integer ticks only (no "0.5 connections").
function axis(scale, { side = 3, integer = false, unit = '' } = {}) {
  return {
    scale,
    side,
    size: 52,
    stroke: COLORS.grey,
    grid: { show: side === 3, stroke: '#eeedeb', width: 1 },
    ticks: { show: false },
    incrs: integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 1e5, 1e6] : undefined,
    values: (u, splits) => splits.map((v) => fmt(v) + unit),
  };
}

// The legend shows the newest value while the pointer is away from the plot, the value under the
// pointer while it is over it: a dashboard is read at a glance, inspected by hovering.
function legendValue(format) {
  return (u, v, sidx, idx) => format(idx == null ? u.data[sidx].at(-1) : v);
}

// One chart card: a title, an optional form, the plot and a note for "no data yet" or errors.
// series: [{ label, color, scale, value(sample) → number, format, secondary (on the right axis) }]
function createChart({ id, title, series, scales, axes, wide = false }) {
  const el = document.createElement('section');
  el.className = wide ? 'chart wide' : 'chart';
  el.id = id;
  el.dataset.points = '0';
  el.innerHTML = `<h2><span class="chart-title"></span><code class="chart-topic"></code></h2>
    <div class="plot"><p class="chart-note" hidden></p></div>`;
  el.querySelector('.chart-title').textContent = title;
  document.getElementById('charts').append(el);
  const target = el.querySelector('.plot');
  const opts = {
    width: Math.max(target.clientWidth, 200),
    height: PLOT_HEIGHT,
    // A tighter top and left than uPlot's automatic padding; the right and bottom stay automatic,
    // so the newest time label and the lowest value label are not cut off.
    padding: [10, null, null, 0],
    cursor: { points: { size: 6 }, drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, ...scales },
    axes: [timeAxis(), ...axes],
    series: [
      { label: 'at', value: legendValue(clockTime) },
      ...series.map((s) => ({
        label: s.label,
        scale: s.scale,
        stroke: s.color,
        width: 2,
        // A series on the secondary (right) axis is dashed and unfilled, to tell the axes apart.
        dash: s.secondary ? [5, 4] : undefined,
        fill: s.secondary ? undefined : `${s.color}14`,
        points: { show: false },
        value: legendValue(s.format ?? fmt),
      })),
    ],
  };
  const plot = new uPlot(opts, [[], ...series.map(() => [])], target);
  const chart = { el, plot, topic: null, series };
  chart.draw = (samples, topic) => drawChart(chart, samples, topic);
  chart.note = (text) => noteChart(chart, text);
  return chart;
}

// Columns for uPlot from the samples (x in seconds, as uPlot's time scale wants), then the test
// hooks. Rebuilt whole each time: a few hundred points, once per interval per chart.
function drawChart(chart, samples, topic) {
  const xs = samples.map((s) => s.t / 1000);
  const ys = chart.series.map((s) => samples.map((x) => s.value(x) ?? null));
  chart.topic = topic;
  chart.el.dataset.topic = topic;
  chart.el.querySelector('.chart-topic').textContent = topic;
  chart.plot.setData([xs, ...ys]);
  // Refresh the legend's "latest" values unless the pointer is showing a point of its own.
  if (chart.plot.cursor.idx == null) chart.plot.setLegend({ idx: null });
  chart.el.dataset.points = String(samples.length);
}

function noteChart(chart, text) {
  const note = chart.el.querySelector('.chart-note');
  note.hidden = !text;
  note.textContent = text || '';
}

// A form in a chart's title: a text input whose submitted value picks the chart's topic.
function addPicker(chart, { label, value, pattern, onPick }) {
  const form = document.createElement('form');
  form.innerHTML = `<label><span class="visually-hidden"></span><input required spellcheck="false"
    autocomplete="off" size="14"></label><button type="submit">Watch</button>`;
  form.querySelector('.visually-hidden').textContent = label;
  const input = form.querySelector('input');
  input.value = value;
  input.maxLength = 200; // topics are at most 255 bytes on the server
  if (pattern) input.pattern = pattern;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (name) onPick(name);
  });
  chart.el.querySelector('h2').append(form);
  return input;
}

// Every plot follows its card's width (window resizes, the grid reflowing to fewer columns).
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const plot = entry.target.plot;
    const width = Math.floor(entry.contentRect.width);
    if (plot && width > 0 && width !== plot.width) plot.setSize({ width, height: PLOT_HEIGHT });
  }
});

function followWidth(chart) {
  const target = chart.el.querySelector('.plot');
  target.plot = chart.plot;
  resizer.observe(target);
}

// --- streams -------------------------------------------------------------------------------------

// One activity topic: its channel, the window of samples kept, and the charts drawn from them.
// watch() moves it to another topic, leaving the previous channel.
class Stream {
  constructor(charts, { empty, onRender } = {}) {
    this.charts = charts;
    this.empty = empty; // the note shown while there is no sample: (topic) → text
    this.onRender = onRender; // also told of every change: (samples) → nothing
    this.topic = null;
    this.channel = null;
    this.samples = [];
  }

  watch(topic) {
    if (topic === this.topic && this.channel) return; // already there (or refused: it would be again)
    this.stop(topic);
    const channel = socket.channel(topic, {});
    this.channel = channel;
    // A channel left by a later watch() may still deliver a late message: only the current counts.
    const current = () => this.channel === channel;
    channel.on('sample', (s) => { if (current()) this.append(s); });
    // phoenix.js resends the same join on every rejoin, so 'ok' runs again after a reconnect with
    // the server's history at that moment: replacing the series there is what avoids duplicates.
    channel.join()
      .receive('ok', (reply) => { if (current()) this.reset(reply?.samples ?? []); })
      .receive('error', (reply) => {
        if (!current()) return;
        // Refused for good (an unknown stream name): stop phoenix.js from rejoining forever.
        channel.leave();
        this.render(`Refused: ${reply?.reason ?? 'join failed'}`);
      });
    this.render();
  }

  // Leaves the current channel, if any; the charts show `topic` with no points (and `note`).
  stop(topic, note) {
    if (this.channel) this.channel.leave();
    this.channel = null;
    this.topic = topic;
    this.samples = [];
    if (note) this.render(note);
  }

  reset(samples) {
    this.samples = samples.slice(-WINDOW);
    this.render();
  }

  append(sample) {
    // A sample taken while the join was answered can reach us both in the reply and as a push.
    const last = this.samples.at(-1);
    if (last && sample.t <= last.t) return;
    this.samples.push(sample);
    if (this.samples.length > WINDOW) this.samples.splice(0, this.samples.length - WINDOW);
    this.render();
  }

  // note: an error to show over the charts; without one, the stream's "no samples yet" if empty.
  render(note) {
    for (const chart of this.charts) {
      chart.draw(this.samples, this.topic);
      chart.note(note || (this.samples.length === 0 && this.empty ? this.empty(this.topic) : ''));
    }
    this.onRender?.(this.samples);
  }
}

// --- the connection indicator -------------------------------------------------------------------

const statusEl = document.getElementById('status');

// data-state: connected | reconnecting | offline (the vocabulary every page uses).
function showStatus(state) {
  statusEl.dataset.state = state;
  statusEl.dataset.transport = transportName(socket);
  statusEl.textContent = {
    connected: `Connected · ${transportName(socket)}`,
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
  }[state];
}

const notConnected = () => showStatus(navigator.onLine ? 'reconnecting' : 'offline');
socket.onOpen(() => showStatus('connected'));
socket.onClose(notConnected);
socket.onError(notConnected);
addEventListener('offline', () => showStatus('offline'));
addEventListener('online', () => { if (!socket.isConnected()) showStatus('reconnecting'); });

// --- the page ------------------------------------------------------------------------------------

// Rewrites one query parameter in place, so a reload (or a shared link) shows the same charts.
function rememberParam(key, value) {
  const q = new URLSearchParams(location.search);
  q.set(key, value);
  history.replaceState(null, '', `${location.pathname}?${q}${location.hash}`);
}

// A series' value: one field of the sample.
const field = (key) => (s) => s[key];

const counts = createChart({
  id: 'chart-server-counts',
  title: 'Connections',
  scales: { count: { range: fromZero } },
  axes: [axis('count', { integer: true })],
  series: [
    { label: 'connections', color: COLORS.orange, scale: 'count', value: field('connections'), format: fmtCount },
    { label: 'channels', color: COLORS.blue, scale: 'count', value: field('channels'), format: fmtCount },
    { label: 'documents', color: COLORS.green, scale: 'count', value: field('documents'), format: fmtCount },
  ],
});

const rates = createChart({
  id: 'chart-server-rates',
  title: 'Messages / s',
  scales: { rate: { range: fromZero } },
  axes: [axis('rate')],
  series: [
    { label: 'in /s', color: COLORS.orange, scale: 'rate', value: field('messages_in_per_s') },
    { label: 'out /s', color: COLORS.blue, scale: 'rate', value: field('messages_out_per_s') },
    { label: 'broadcasts /s', color: COLORS.purple, scale: 'rate', value: field('broadcasts_per_s') },
  ],
});

const memory = createChart({
  id: 'chart-server-memory',
  title: 'Memory',
  scales: { mb: { range: fromZero } },
  axes: [axis('mb', { unit: ' MB' })],
  series: [{ label: 'resident (RSS)', color: COLORS.purple, scale: 'mb',
    value: (s) => (s.rss_bytes == null ? null : s.rss_bytes / MB), format: (v) => `${fmt(v)} MB` }],
});

const doc = createChart({
  id: 'chart-doc',
  title: 'Document',
  wide: true,
  scales: { rate: { range: fromZero }, count: { range: fromZero } },
  axes: [axis('rate'), axis('count', { side: 1, integer: true })],
  series: [
    { label: 'updates /s', color: COLORS.orange, scale: 'rate', value: field('updates_per_s') },
    { label: 'awareness /s', color: COLORS.blue, scale: 'rate', value: field('awareness_per_s') },
    { label: 'clients', color: COLORS.green, scale: 'count', value: field('subscribers'), format: fmtCount, secondary: true },
  ],
});

const business = createChart({
  id: 'chart-business',
  title: 'Business stream',
  wide: true,
  scales: { value: { range: fromZero }, count: { range: fromZero } },
  axes: [axis('value'), axis('count', { side: 1, integer: true })],
  series: [
    { label: 'value (sum per interval)', color: COLORS.orange, scale: 'value', value: field('value') },
    { label: 'events', color: COLORS.grey, scale: 'count', value: field('count'), format: fmtCount, secondary: true },
  ],
});

const charts = { counts, rates, memory, doc, business };
for (const chart of Object.values(charts)) followWidth(chart);

// The node's name, from the server's samples, beside the page title.
const nodeEl = document.getElementById('node');
function showNode(samples) {
  const node = samples.at(-1)?.node;
  nodeEl.textContent = node ? `node ${node}` : '';
}

const streams = {
  server: new Stream([counts, rates, memory], { onRender: showNode }),
  doc: new Stream([doc], {
    empty: (topic) => `No samples yet: ${topic.slice('activity:doc:'.length)} is sampled while it is open.`,
  }),
  business: new Stream([business], {
    empty: (topic) => `No samples yet: POST /api/events {"stream":"${topic.slice('activity:'.length)}","value":1}`,
  }),
};

streams.server.watch('activity:server');

const docName = query.get('doc') || 'lobby';
streams.doc.watch(`activity:doc:${docName}`);
addPicker(doc, {
  label: 'Document name',
  value: docName,
  onPick: (name) => {
    rememberParam('doc', name);
    streams.doc.watch(`activity:doc:${name}`);
  },
});

function watchBusiness(name) {
  if (validStreamName(name)) streams.business.watch(`activity:${name}`);
  else streams.business.stop(`activity:${name}`, `Not a stream name: 1–64 of A–Z a–z 0–9 _ . -, not server, cluster or doc…`);
}

const streamName = query.get('stream') || 'signups';
watchBusiness(streamName);
addPicker(business, {
  label: 'Stream name',
  value: streamName,
  pattern: '[A-Za-z0-9_.\\-]{1,64}',
  onPick: (name) => {
    rememberParam('stream', name);
    watchBusiness(name);
  },
});

window.cinderActivity = { socket, streams, charts };
