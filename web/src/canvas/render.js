// Draws the board's shapes on a <canvas>, all of them on every frame that follows a change: a board
// holds hundreds of shapes, not millions, and a full redraw keeps the order exact (later on top)
// without tracking damage. The canvas is sized in device pixels so lines stay sharp.
import { corners } from './model.js';

// `faded` (a Set of shapes) is drawn pale: what the eraser has picked and will remove on release.
export function boardRenderer(canvas, shapes, { faded = new Set() } = {}) {
  const ctx = canvas.getContext('2d');
  let frame = 0;

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function drawPen(points, width) {
    const n = points.length;
    if (n < 2) return;
    if (n === 2) { // a single point: a dot
      ctx.beginPath();
      ctx.arc(points[0], points[1], width / 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    // Quadratic curves through the midpoints: smooth without inventing points.
    ctx.beginPath();
    ctx.moveTo(points[0], points[1]);
    for (let i = 2; i < n - 2; i += 2) {
      const mx = (points[i] + points[i + 2]) / 2;
      const my = (points[i + 1] + points[i + 3]) / 2;
      ctx.quadraticCurveTo(points[i], points[i + 1], mx, my);
    }
    ctx.lineTo(points[n - 2], points[n - 1]);
    ctx.stroke();
  }

  function drawShape(shape) {
    const type = shape.get('type');
    const width = Number(shape.get('width')) || 2;
    ctx.strokeStyle = ctx.fillStyle = String(shape.get('color') || '#000');
    ctx.lineWidth = width;
    if (type === 'pen') {
      const points = shape.get('points');
      if (points) drawPen(points.toArray(), width);
      return;
    }
    const [x0, y0, x1, y1] = corners(shape);
    ctx.beginPath();
    if (type === 'line') {
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
    } else if (type === 'rect') {
      ctx.rect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    } else if (type === 'ellipse') {
      ctx.ellipse((x0 + x1) / 2, (y0 + y1) / 2, Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2, 0, 0, Math.PI * 2);
    } else {
      return; // a type this version does not know (a newer client's): left alone, not drawn
    }
    ctx.stroke();
  }

  function draw() {
    frame = 0;
    resize();
    ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    for (const shape of shapes) {
      if (!shape || typeof shape.get !== 'function') continue;
      ctx.globalAlpha = faded.has(shape) ? 0.25 : 1;
      drawShape(shape);
    }
    ctx.globalAlpha = 1;
    canvas.dataset.shapes = String(shapes.length);
  }

  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  shapes.observeDeep(schedule);
  new ResizeObserver(schedule).observe(canvas);
  schedule();
  return { schedule };
}
