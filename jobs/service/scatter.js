/* Canvas scatter of a projection: colours, marked hits, a selected point, hover/click lookup. */
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                 "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function viridis(t) {
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  const c = VIRIDIS[i].map((v, j) => Math.round(v + (VIRIDIS[i + 1][j] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function colorOf(data, point) {
  const c = data.colors;
  if (!c) return PALETTE[0];
  if (point.color === null || point.color === undefined) return "#c8c8c8";
  if (c.kind === "category") return PALETTE[Math.max(0, c.categories.indexOf(point.color)) % PALETTE.length];
  return viridis((point.color - c.min) / ((c.max - c.min) || 1));
}

function legendHTML(data) {
  const c = data.colors, esc = (s) => String(s).replace(/[&<>"]/g, (m) => `&#${m.charCodeAt(0)};`);
  if (!c) return "";
  if (c.kind === "number") {
    const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `${viridis(t)} ${t * 100}%`).join(",");
    return `<span>${esc(data.color_by)}: ${c.min}</span><span class="ramp" style="background:` +
      `linear-gradient(90deg,${stops})"></span><span>${c.max}</span>`;
  }
  return c.categories.map((name, i) => `<span class="key"><i style="background:${PALETTE[i % PALETTE.length]}">` +
    `</i>${esc(name)}</span>`).join("");
}

function Scatter(canvas) {
  const ctx = canvas.getContext("2d"), pad = 16;
  let data = null, marks = new Map(), near = [], selected = null, view = null, screen = [];

  function layout() {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr));
    canvas.height = Math.max(1, Math.round(r.height * dpr));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const pts = data ? data.points : [];
    const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    // One scale for both axes: UMAP distances mean the same in x and y.
    const scale = Math.min((r.width - 2 * pad) / ((x1 - x0) || 1), (r.height - 2 * pad) / ((y1 - y0) || 1));
    const ox = (r.width - (x1 - x0) * scale) / 2, oy = (r.height - (y1 - y0) * scale) / 2;
    view = {w: r.width, h: r.height};
    screen = pts.map((p) => [ox + (p.x - x0) * scale, r.height - oy - (p.y - y0) * scale]);
  }

  function dot(i, radius, fill, stroke) {
    ctx.beginPath();
    ctx.arc(screen[i][0], screen[i][1], radius, 0, 2 * Math.PI);
    ctx.fillStyle = fill;
    ctx.fill();
    if (stroke) { ctx.lineWidth = 1.5; ctx.strokeStyle = stroke; ctx.stroke(); }
  }

  function draw() {
    if (!data) return;
    layout();
    ctx.clearRect(0, 0, view.w, view.h);
    const n = data.points.length, radius = n > 4000 ? 1.6 : n > 1000 ? 2.2 : 3.2;
    ctx.globalAlpha = marks.size ? 0.35 : 0.8;
    data.points.forEach((p, i) => dot(i, radius, colorOf(data, p)));
    ctx.globalAlpha = 1;
    const order = [...marks.entries()].sort((a, b) => b[1] - a[1]);
    for (const [i, rank] of order) {
      dot(i, 6, colorOf(data, data.points[i]), "#111");
      if (rank <= 10) {
        ctx.fillStyle = "#111";
        ctx.font = "bold 11px system-ui, sans-serif";
        ctx.fillText(String(rank), screen[i][0] + 7, screen[i][1] - 6);
      }
    }
    for (const i of near) {
      ctx.beginPath();
      ctx.arc(screen[i][0], screen[i][1], 6, 0, 2 * Math.PI);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#d62728";
      ctx.stroke();
    }
    if (selected !== null) {
      ctx.beginPath();
      ctx.arc(screen[selected][0], screen[selected][1], 10, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#d62728";
      ctx.stroke();
    }
    canvas.dataset.points = String(n);
    canvas.dataset.marked = String(marks.size);
  }

  function indexOf(id) { return data ? data.points.findIndex((p) => p.id === id) : -1; }

  return {
    set(d) { data = d; marks = new Map(); near = []; selected = null; draw(); },
    /* ids in rank order; returns how many of them are in the sample */
    mark(ids) {
      marks = new Map();
      // Passages of one document share its point: the point keeps the best rank.
      ids.forEach((id, r) => { const i = indexOf(id); if (i >= 0 && !marks.has(i)) marks.set(i, r + 1); });
      draw();
      return marks.size;
    },
    select(id) { const i = indexOf(id); selected = i >= 0 ? i : null; near = []; draw(); return i >= 0; },
    /* ring these ids (a selected point's neighbours) */
    near(ids) { near = ids.map(indexOf).filter((i) => i >= 0); draw(); },
    /* the point nearest to a mouse event, within 8 px, or null */
    at(event) {
      if (!data) return null;
      const r = canvas.getBoundingClientRect(), x = event.clientX - r.left, y = event.clientY - r.top;
      let best = -1, bestD = 64;
      screen.forEach(([sx, sy], i) => {
        const d = (sx - x) ** 2 + (sy - y) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      });
      return best >= 0 ? data.points[best] : null;
    },
    draw,
  };
}
