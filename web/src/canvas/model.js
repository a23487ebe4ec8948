// The board as a Yjs document: doc.getArray('shapes') holds one Y.Map per shape, in drawing order
// (later shapes on top):
//   type   'pen' | 'line' | 'rect' | 'ellipse'
//   color  CSS colour, width  stroke width in CSS pixels
//   pen:   points  Y.Array of numbers x0, y0, x1, y1, ... (board coordinates, whole pixels)
//   other: x0, y0, x1, y1  the drag's start and end
// A stroke grows point by point, so the others watch it being drawn, and each addition is a small
// update (a few bytes per point). Shapes being dragged rewrite x1/y1 (Y.Map keys: last writer
// wins, the old values become tombstones of a few bytes).
//
// Erasing deletes the Y.Maps from the array.
//
// Every local edit is a transaction with origin LOCAL, the only origin the UndoManager tracks: undo
// takes back one's own edits, never the others' (their updates arrive with the provider as origin).
import * as Y from 'yjs';

export const LOCAL = Object.freeze({ origin: 'local' });
export const SHAPE_TYPES = ['pen', 'line', 'rect', 'ellipse'];

// A line, rectangle or ellipse's drag as numbers [x0, y0, x1, y1] (0 where a peer sent nonsense).
export const corners = (shape) => ['x0', 'y0', 'x1', 'y1'].map((k) => Number(shape.get(k)) || 0);

export function boardModel(doc) {
  const shapes = doc.getArray('shapes');
  const undo = new Y.UndoManager(shapes, { trackedOrigins: new Set([LOCAL]), captureTimeout: 400 });

  return {
    shapes,
    undo,
    // A new shape under the pointer; returns a handle the drag extends.
    begin(type, color, width, x, y) {
      undo.stopCapturing(); // each shape is one undo step, however fast the next one follows
      const shape = new Y.Map();
      doc.transact(() => {
        shapes.push([shape]);
        shape.set('type', type);
        shape.set('color', color);
        shape.set('width', width);
        if (type === 'pen') {
          const points = new Y.Array();
          shape.set('points', points);
          points.push([x, y]);
        } else {
          shape.set('x0', x);
          shape.set('y0', y);
          shape.set('x1', x);
          shape.set('y1', y);
        }
      }, LOCAL);
      return shape;
    },
    // Points the pointer went through since the last call (flat x, y list), or the new corner.
    extend(shape, xy) {
      if (!xy.length) return;
      doc.transact(() => {
        if (shape.get('type') === 'pen') {
          shape.get('points').push(xy);
        } else {
          shape.set('x1', xy[xy.length - 2]);
          shape.set('y1', xy[xy.length - 1]);
        }
      }, LOCAL);
    },
    // A shape with no extent (a click with the line tool) is taken back; a pen click stays a dot.
    end(shape) {
      if (shape.get('type') === 'pen') return;
      if (shape.get('x0') === shape.get('x1') && shape.get('y0') === shape.get('y1')) {
        doc.transact(() => {
          const i = shapes.toArray().indexOf(shape);
          if (i >= 0) shapes.delete(i, 1);
        }, LOCAL);
      }
    },
    // The eraser's pick, removed at once: one transaction, so one update for the others and one
    // undo step (undo brings them back, whoever drew them). A shape someone else removed meanwhile
    // is no longer there to remove.
    erase(picked) {
      undo.stopCapturing();
      doc.transact(() => {
        const all = shapes.toArray();
        const indices = [...picked].map((shape) => all.indexOf(shape)).filter((i) => i >= 0);
        for (const i of indices.sort((a, b) => b - a)) shapes.delete(i, 1);
      }, LOCAL);
    },
    clear() {
      undo.stopCapturing();
      if (shapes.length) doc.transact(() => shapes.delete(0, shapes.length), LOCAL);
    },
  };
}
