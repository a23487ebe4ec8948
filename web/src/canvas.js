// The canvas page: a shared drawing board on the Yjs document of `y_doc_room:<board>`, where
// <board> is the URL's fragment (/canvas.html#lobby). Everything collaborative comes from npm
// packages, unchanged: phoenix (the socket), yjs (the document, UndoManager), y-phoenix-channel
// (sync and awareness over the channel) and y-indexeddb (a copy in the browser). cinder keeps the
// document, so a reload, another browser or a newcomer finds the drawing.
//
//   ?name=Alice   the name others see (else the one saved in this browser, else "Guest 1234")
//   ?transport=longpoll, ?token=...   see socket.js
import './style.css';
import * as Y from 'yjs';
import { PhoenixChannelProvider } from 'y-phoenix-channel';
import { IndexeddbPersistence } from 'y-indexeddb';
import { connectSocket } from './socket.js';
import { boardModel } from './canvas/model.js';
import { boardRenderer } from './canvas/render.js';
import { shapeAt } from './canvas/hit.js';
import { presenceView } from './canvas/presence.js';
import { connectionIndicator } from './canvas/connection.js';

const COLORS = ['#1c1917', '#dc2626', '#ea580c', '#ca8a04', '#16a34a', '#0891b2', '#2563eb', '#9333ea'];
const $ = (id) => document.getElementById(id);

const board = decodeURIComponent(location.hash.slice(1)) || 'lobby';
addEventListener('hashchange', () => location.reload()); // another board: another document
document.title = `${board} · cinder canvas`;
$('board-title').textContent = board;

const doc = new Y.Doc();
// The board is kept in this browser too (IndexedDB, y-indexeddb): it shows at once on the next
// visit, and what was drawn offline survives closing the tab — its updates reach the server, and
// merge there, the next time the page is open and online.
const local = new IndexeddbPersistence(`cinder-canvas:${board}`, doc);
const socket = connectSocket();
const provider = new PhoenixChannelProvider(socket, `y_doc_room:${board}`, doc);
const { awareness } = provider;
const model = boardModel(doc);
const canvas = $('board');
const picked = new Set(); // the eraser's pick during a drag, drawn pale, removed on release
const renderer = boardRenderer(canvas, model.shapes, { faded: picked });
presenceView(awareness, { cursorsEl: $('cursors'), peersEl: $('peers') });
connectionIndicator($('status'), { socket, provider, undo: model.undo });

// --- who I am -------------------------------------------------------------------------------
const query = new URLSearchParams(location.search);
const me = {
  name: query.get('name') || localStorage.getItem('cinder.name') || `Guest ${Math.floor(1000 + Math.random() * 9000)}`,
  color: COLORS[1 + Math.floor(Math.random() * (COLORS.length - 1))],
};
$('name').value = me.name;
$('name').addEventListener('change', (e) => {
  me.name = e.target.value.trim().slice(0, 40) || me.name;
  localStorage.setItem('cinder.name', me.name);
  awareness.setLocalStateField('user', { ...me });
});
awareness.setLocalState({ user: { ...me }, cursor: null });

// --- tools ------------------------------------------------------------------------------------
// tool: a shape type (model.js's SHAPE_TYPES) to draw, or 'eraser'.
const brush = { tool: 'pen', color: COLORS[0], width: 4 };
const KEYS = { p: 'pen', l: 'line', r: 'rect', e: 'ellipse', x: 'eraser' };
function pressOnly(buttons, pressed) {
  for (const b of buttons) b.setAttribute('aria-pressed', String(b === pressed));
}
const toolButtons = [...document.querySelectorAll('[data-tool]')];
const chooseTool = (tool) => {
  brush.tool = tool;
  canvas.dataset.tool = tool; // its pointer (style.css)
  pressOnly(toolButtons, toolButtons.find((b) => b.dataset.tool === tool));
};
chooseTool(brush.tool);
for (const b of toolButtons) b.addEventListener('click', () => chooseTool(b.dataset.tool));
const swatches = COLORS.map((color) => {
  const b = document.createElement('button');
  b.className = 'swatch';
  b.style.background = color;
  b.dataset.color = color;
  b.title = color;
  b.setAttribute('aria-label', `colour ${color}`);
  b.addEventListener('click', () => {
    brush.color = color;
    pressOnly(swatches, b);
  });
  return b;
});
$('colors').append(...swatches);
pressOnly(swatches, swatches[0]);
$('width').addEventListener('change', (e) => { brush.width = Number(e.target.value); });

// --- undo/redo: one's own edits only ----------------------------------------------------------
const { undo } = model;
const syncHistoryButtons = () => {
  $('undo').disabled = undo.undoStack.length === 0;
  $('redo').disabled = undo.redoStack.length === 0;
};
for (const ev of ['stack-item-added', 'stack-item-popped', 'stack-cleared']) undo.on(ev, syncHistoryButtons);
$('undo').addEventListener('click', () => undo.undo());
$('redo').addEventListener('click', () => undo.redo());
$('clear').addEventListener('click', () => model.clear());
addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement) return;
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === 'z') {
    e.preventDefault();
    if (e.shiftKey) undo.redo(); else undo.undo();
  } else if (mod && key === 'y') {
    e.preventDefault();
    undo.redo();
  } else if (!mod && KEYS[key]) {
    chooseTool(KEYS[key]);
  }
});

// --- drawing: pointer events, applied once per animation frame ---------------------------------
// The eraser picks the topmost shape under each point the pointer goes through and removes its
// pick on release, as one edit (one update, one undo step); a cancelled gesture removes nothing.
let drawing = null; // { shape, queued: [x, y, ...] }
let erasing = false;
let cursor = null;
let frame = 0;
const at = (e) => {
  const r = canvas.getBoundingClientRect();
  return [Math.round(e.clientX - r.left), Math.round(e.clientY - r.top)];
};
function flush() {
  frame = 0;
  if (drawing && drawing.queued.length) {
    model.extend(drawing.shape, drawing.queued);
    drawing.queued = [];
  }
  const state = awareness.getLocalState();
  if (state && JSON.stringify(state.cursor) !== JSON.stringify(cursor)) awareness.setLocalStateField('cursor', cursor);
}
const scheduleFlush = () => { if (!frame) frame = requestAnimationFrame(flush); };

canvas.addEventListener('pointerdown', (e) => {
  if (e.button !== 0) return;
  canvas.setPointerCapture(e.pointerId);
  const [x, y] = at(e);
  cursor = { x, y };
  if (brush.tool === 'eraser') {
    erasing = true;
    pick(x, y);
  } else {
    drawing = { shape: model.begin(brush.tool, brush.color, brush.width, x, y), queued: [] };
  }
  scheduleFlush();
});
function pick(...xy) {
  const before = picked.size;
  const all = model.shapes.toArray();
  for (let i = 0; i + 1 < xy.length; i += 2) {
    const shape = shapeAt(all, xy[i], xy[i + 1]);
    if (shape) picked.add(shape);
  }
  if (picked.size !== before) renderer.schedule();
}
canvas.addEventListener('pointermove', (e) => {
  const [x, y] = at(e);
  cursor = { x, y };
  if (drawing || erasing) {
    // coalesced events: every point the pointer went through, not only one per frame
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const xy = (events.length ? events : [e]).flatMap(at);
    if (drawing) drawing.queued.push(...xy);
    else pick(...xy);
  }
  scheduleFlush();
});
const stopErasing = (remove) => {
  if (remove && picked.size) model.erase(picked);
  picked.clear();
  erasing = false;
  renderer.schedule();
};
const finish = () => {
  if (erasing) stopErasing(true);
  if (!drawing) return;
  flush();
  model.end(drawing.shape);
  drawing = null;
};
canvas.addEventListener('pointerup', finish);
canvas.addEventListener('pointercancel', () => {
  if (erasing) stopErasing(false);
  finish();
});
canvas.addEventListener('pointerleave', () => {
  cursor = null;
  scheduleFlush();
});

// For the browser tests and for poking around in devtools.
window.cinderCanvas = { doc, provider, socket, awareness, local, shapes: model.shapes, undo };
