// Small SVG charts, no libraries: lineChart (series over periods) and barChart
// (horizontal bars). Each returns an <svg role="img"> with a title, axes, a legend and
// one <title> per point or bar (shown on hover, read by screen readers).
import { s } from './dom.js';
import { t } from './i18n.js';

const PALETTE = 8; // .c0 ... .c7 in style.css

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * exp >= value) return step * exp;
  }
  return 10 * exp;
}

function fmt(value) {
  if (!Number.isFinite(value)) return '';
  return Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value * 100) / 100)
    : value.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

// series: [{name, points: [{label, value}]}]; labels: the x categories in order.
export function lineChart({ title, labels, series, width = 560, height = 240, min = null, max = null }) {
  const pad = { l: 44, r: 12, t: 12, b: 40 };
  // Legend columns by the longest name, so long titles do not run into each other.
  const longest = Math.max(0, ...series.map((ser) => String(ser.name).length));
  const cols = longest > 26 ? 1 : longest > 14 ? 2 : 3;
  const legendRows = Math.ceil(series.length / cols);
  const h = height + legendRows * 18;
  const values = series.flatMap((ser) => ser.points.map((p) => p.value)).filter(Number.isFinite);
  const lo = min ?? Math.min(0, ...values);
  const hi = max ?? niceMax(Math.max(...values, 0));
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const x = (i) => pad.l + (labels.length <= 1 ? plotW / 2 : (i * plotW) / (labels.length - 1));
  const y = (v) => pad.t + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  const svg = s('svg', { class: 'chart line-chart', viewBox: `0 0 ${width} ${h}`, role: 'img',
    'aria-label': title, width, height: h });
  svg.append(s('title', {}, title));
  const axis = s('g', { class: 'axis' });
  const ticks = 4;
  for (let i = 0; i <= ticks; i += 1) {
    const v = lo + ((hi - lo) * i) / ticks;
    axis.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    axis.append(s('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      let anchor = 'middle';
      if (labels.length > 1 && i === 0) anchor = 'start';
      else if (labels.length > 1 && i === labels.length - 1) anchor = 'end';
      axis.append(s('text', { x: x(i), y: height - pad.b + 16, 'text-anchor': anchor }, label));
    }
  });
  svg.append(axis);
  series.forEach((ser, n) => {
    const color = `c${n % PALETTE}`;
    const pts = labels.map((label, i) => {
      const p = ser.points.find((q) => q.label === label);
      return p && Number.isFinite(p.value) ? [x(i), y(p.value), p.value, label] : null;
    }).filter(Boolean);
    const g = s('g', { class: `series ${color}`, 'data-series': ser.name });
    if (pts.length > 1) {
      g.append(s('polyline', { points: pts.map(([px, py]) => `${px},${py}`).join(' '), fill: 'none' }));
    }
    for (const [px, py, v, label] of pts) {
      g.append(s('circle', { cx: px, cy: py, r: 3.5, 'data-value': v },
        s('title', {}, t('chart.series', { name: ser.name, value: fmt(v), label }))));
    }
    svg.append(g);
  });
  series.forEach((ser, n) => {
    const lx = pad.l + (n % cols) * Math.floor(plotW / cols);
    const ly = height + Math.floor(n / cols) * 18 - 4;
    svg.append(s('g', { class: `legend c${n % PALETTE}` },
      s('rect', { x: lx, y: ly - 9, width: 10, height: 10 }),
      s('text', { x: lx + 14, y: ly }, ser.name)));
  });
  return svg;
}

// A label broken into lines of at most `width` characters (words kept whole where they
// fit; Chinese breaks anywhere), at most `max` lines, so long titles wrap instead of
// being cut.
export function wrapLabel(text, width = 22, max = 3) {
  const words = String(text).split(/(?<=[\s_/-])|(?=[\u3400-\u9fff])/u);
  const lines = [];
  let line = '';
  for (const w of words) {
    if (line && (line + w).trimEnd().length > width) { lines.push(line.trimEnd()); line = ''; }
    let rest = w;
    while (rest.length > width) { lines.push(rest.slice(0, width)); rest = rest.slice(width); }
    line += rest;
  }
  if (line.trim()) lines.push(line.trimEnd());
  if (lines.length > max) lines.splice(max - 1, lines.length, `${lines[max - 1]}…`);
  return lines;
}

// items: [{label, value, title?}], drawn largest first as given; `title` is what is shown
// (label, an id, stays in data-label).
export function barChart({ title, items, width = 560, barHeight = 22 }) {
  const pad = { l: 170, r: 48, t: 8, b: 8 };
  const lineH = 13;
  const rows = items.map((item) => wrapLabel(item.title || item.label));
  const rowH = rows.map((lines) => Math.max(barHeight, lines.length * lineH + 4) + 6);
  const height = pad.t + pad.b + rowH.reduce((a, b) => a + b, 0);
  const hi = niceMax(Math.max(...items.map((i) => i.value), 0));
  const plotW = width - pad.l - pad.r;
  const svg = s('svg', { class: 'chart bar-chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': title, width, height });
  svg.append(s('title', {}, title));
  let y = pad.t;
  items.forEach((item, i) => {
    const w = Math.max(1, (item.value / hi) * plotW);
    const lines = rows[i];
    const top = y + (rowH[i] - 6 - lines.length * lineH) / 2 + lineH * 0.8;
    const shown = item.title || item.label;
    const text = s('text', { x: pad.l - 8, y: top, 'text-anchor': 'end', class: 'bar-label' },
      lines.map((l, n) => s('tspan', { x: pad.l - 8, dy: n ? lineH : 0 }, l)));
    const barY = y + (rowH[i] - 6 - barHeight) / 2;
    svg.append(s('g', { class: `bar c${i % PALETTE}`, 'data-label': item.label, 'data-value': item.value,
      'data-title': shown },
    s('title', {}, `${shown}${shown !== item.label ? ` (${item.label})` : ''}: ${fmt(item.value)}`),
    text,
    s('rect', { x: pad.l, y: barY, width: w, height: barHeight, rx: 2 }),
    s('text', { x: pad.l + w + 6, y: barY + barHeight * 0.7, class: 'bar-value' }, fmt(item.value))));
    y += rowH[i];
  });
  return svg;
}
