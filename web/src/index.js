// The home page: opens the canvas on the board named in the form, and shows the node's health.
import './style.css';

const form = document.getElementById('open-canvas');
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = document.getElementById('board-name').value.trim();
  location.href = `/canvas.html#${encodeURIComponent(name)}`;
});

fetch('/healthz').then((r) => r.json()).then((h) => {
  document.getElementById('health').textContent =
    `node ${h.node ?? '?'} · ${h.status ?? 'up'}${h.cluster ? ' · cluster' : ''}`;
}).catch(() => {});
