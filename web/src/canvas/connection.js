// The connection indicator of the canvas (the #status element, data-state for styles and tests):
//   connected     the channel is joined and the document in sync ("Live")
//   reconnecting  the socket or the channel is being (re)established; local edits wait
//   offline       the browser says the network is gone; edits are kept and merge on reconnect
// with the number of local edits made since the last sync, so nobody wonders where a drawing went.
// An edit is what undo would take back (a shape, a clear, an undo): the UndoManager's steps, not
// the many small updates a stroke is made of.
//
// A local edit made while the channel is not joined reaches nobody at once: y-phoenix-channel sends
// updates only on a joined channel. On rejoin it sends sync step 1, cinder answers with step 2 and
// its own step 1, and the provider's step 2 carries those edits: synced again means merged.
import { transportName } from '../socket.js';

export function connectionIndicator(el, { socket, provider, undo }) {
  let pending = 0;
  let joined = false;

  function render() {
    let state;
    let text;
    const edits = pending === 1 ? '1 local edit' : `${pending} local edits`;
    if (!navigator.onLine) {
      state = 'offline';
      text = pending ? `Offline · ${edits}, merged on reconnect` : 'Offline';
    } else if (joined && provider.synced) {
      state = 'connected';
      text = `Live · ${transportName(socket)}`;
    } else {
      state = 'reconnecting';
      text = pending ? `Reconnecting… · ${edits} waiting` : 'Reconnecting…';
    }
    el.dataset.state = state;
    el.dataset.pending = String(pending);
    el.textContent = text;
  }

  provider.on('status', ({ status }) => {
    joined = status === 'connected';
    render();
  });
  provider.on('sync', (synced) => {
    if (synced && joined) pending = 0;
    render();
  });
  undo.on('stack-item-added', () => {
    if (!(joined && provider.synced)) {
      pending++;
      render();
    }
  });
  addEventListener('online', render);
  addEventListener('offline', render);
  socket.onOpen(render);
  socket.onClose(render);
  render();
}
