// The others on the board, through Yjs awareness (y-protocols, carried by y-phoenix-channel): each
// client's state is { user: { name, color }, cursor: { x, y } | null }. Their cursors are drawn over
// the canvas with their names, and everyone here is listed in the header. A client that leaves or
// drops is removed by the awareness protocol (its state times out after 30 s, or its channel's
// leave removes it at once).

const ARROW = (color) => `<svg width="16" height="16" viewBox="0 0 16 16"><path d="M1 1l5 14 2-6 6-2z"
  fill="${color}" stroke="#fff" stroke-width="1"/></svg>`;

export function presenceView(awareness, { cursorsEl, peersEl }) {
  const cursors = new Map(); // clientID -> element

  function safeColor(c) {
    return typeof c === 'string' && /^#[0-9a-f]{3,8}$/i.test(c) ? c : '#78716c';
  }

  function render() {
    const states = awareness.getStates();
    const seen = new Set();
    for (const [id, state] of states) {
      if (id === awareness.clientID || !state.cursor || !state.user) continue;
      const x = Number(state.cursor.x);
      const y = Number(state.cursor.y);
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      seen.add(id);
      let el = cursors.get(id);
      if (!el) {
        el = document.createElement('div');
        el.className = 'cursor';
        el.dataset.client = String(id);
        el.innerHTML = `${ARROW('#000')}<span></span>`;
        cursorsEl.append(el);
        cursors.set(id, el);
      }
      const color = safeColor(state.user.color);
      el.querySelector('path').setAttribute('fill', color);
      const label = el.querySelector('span');
      label.textContent = String(state.user.name ?? '');
      label.style.background = color;
      el.style.left = `${x}px`;
      el.style.top = `${y}px`;
    }
    for (const [id, el] of cursors) {
      if (!seen.has(id)) {
        el.remove();
        cursors.delete(id);
      }
    }

    peersEl.replaceChildren(...[...states].filter(([, s]) => s.user).map(([id, s]) => {
      const chip = document.createElement('span');
      chip.className = 'peer';
      chip.style.background = safeColor(s.user.color);
      chip.textContent = id === awareness.clientID ? `${s.user.name} (you)` : String(s.user.name ?? '');
      chip.dataset.client = String(id);
      return chip;
    }));
  }

  awareness.on('change', render);
  render();
}
