// Which shape is under a point: for the eraser. Shapes are outlines (nothing is filled), so a shape
// is hit where its stroke is drawn, give or take a few pixels of slack for a finger or a shaky hand;
// the inside of a rectangle or an ellipse is empty board and erases nothing.

import { corners } from './model.js';

const SLACK = 6; // pixels beyond the stroke's half-width that still count as touching it

// Distance from (px, py) to the segment (ax, ay)-(bx, by).
function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

// Distance from (px, py) to the outline of the ellipse inscribed in the box, approximated by the
// radial distance scaled to the smaller radius (exact on a circle, close enough to erase by).
function ellipseDistance(px, py, x0, y0, x1, y1) {
  const a = Math.abs(x1 - x0) / 2;
  const b = Math.abs(y1 - y0) / 2;
  if (a < 1 || b < 1) return segmentDistance(px, py, x0, y0, x1, y1); // flat: a line
  const dx = (px - (x0 + x1) / 2) / a;
  const dy = (py - (y0 + y1) / 2) / b;
  return Math.abs(Math.hypot(dx, dy) - 1) * Math.min(a, b);
}

function distance(shape, x, y) {
  const type = shape.get('type');
  if (type === 'pen') {
    const p = shape.get('points')?.toArray() ?? [];
    if (p.length < 2) return Infinity;
    let best = Math.hypot(x - p[0], y - p[1]);
    for (let i = 2; i + 1 < p.length; i += 2) {
      best = Math.min(best, segmentDistance(x, y, p[i - 2], p[i - 1], p[i], p[i + 1]));
    }
    return best;
  }
  const [x0, y0, x1, y1] = corners(shape);
  if (type === 'line') return segmentDistance(x, y, x0, y0, x1, y1);
  if (type === 'rect') {
    return Math.min(segmentDistance(x, y, x0, y0, x1, y0), segmentDistance(x, y, x1, y0, x1, y1),
      segmentDistance(x, y, x1, y1, x0, y1), segmentDistance(x, y, x0, y1, x0, y0));
  }
  if (type === 'ellipse') return ellipseDistance(x, y, x0, y0, x1, y1);
  return Infinity; // a type this version does not draw cannot be seen, so it is not erased either
}

// The topmost shape (the last drawn) whose stroke passes under (x, y), or null; `all` is the
// board's shapes as an array (read once per batch of points, not once per point).
export function shapeAt(all, x, y) {
  for (let i = all.length - 1; i >= 0; i--) {
    const shape = all[i];
    if (!shape || typeof shape.get !== 'function') continue;
    const reach = (Number(shape.get('width')) || 2) / 2 + SLACK;
    if (distance(shape, x, y) <= reach) return shape;
  }
  return null;
}
