// Small SVG charts, no libraries: lineChart (series over periods) and barChart
// (horizontal bars). Each returns an <svg role="img"> with a title, axes, a legend and
// one <title> per point or bar (shown on hover, read by screen readers).
import { s } from './dom.js';
import { locale, t } from './i18n.js';

const PALETTE = 8; // .c0 ... .c7 in style.css

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * exp >= value) return step * exp;
  }
  return 10 * exp;
}

// Tick values from 0 (or lo) to hi: whole numbers when `integer` (counts), at most 5.
function ticksOf(lo, hi, integer) {
  const span = hi - lo;
  let step = span / 4;
  if (integer) step = Math.max(1, Math.ceil(step));
  const out = [];
  for (let v = lo; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1000) / 1000);
  return out;
}

// A period key (YYYY-MM-DD or YYYY-MM) as a short date in the chosen language.
export function periodLabel(period, interval) {
  const [y, m, d] = String(period).split('-').map(Number);
  if (!y || !m) return String(period);
  const date = new Date(y, m - 1, d || 1);
  if (interval === 'month' || !d) return date.toLocaleDateString(locale(), { year: 'numeric', month: 'short' });
  return date.toLocaleDateString(locale(), { month: 'short', day: 'numeric' });
}

function fmt(value) {
  if (!Number.isFinite(value)) return '';
  return Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value * 100) / 100)
    : value.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

// series: [{name, points: [{label, value, href?}]}]; labels: the x categories in order
// (shown through `format`). `integer` for counts; `yTitle` names the axis; the legend is
// drawn when there is more than one series (one series is named by the chart's title).
export function lineChart({ title, labels, series, width = 560, height = 250, min = null, max = null,
  integer = false, yTitle = '', format = (x) => x }) {
  const pad = { l: 56, r: 14, t: 12, b: 40 };
  const legend = series.length > 1;
  // Legend columns by the longest name, so long titles do not run into each other.
  const longest = Math.max(0, ...series.map((ser) => String(ser.name).length));
  const cols = longest > 26 ? 1 : longest > 14 ? 2 : 3;
  const legendRows = legend ? Math.ceil(series.length / cols) : 0;
  const h = height + legendRows * 18;
  const values = series.flatMap((ser) => ser.points.map((p) => p.value)).filter(Number.isFinite);
  const lo = min ?? Math.min(0, ...values);
  let hi = max ?? niceMax(Math.max(...values, 0));
  if (integer && max === null) hi = Math.max(hi, 4 * Math.ceil(hi / 4));
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const x = (i) => pad.l + (labels.length <= 1 ? plotW / 2 : (i * plotW) / (labels.length - 1));
  const y = (v) => pad.t + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  const svg = s('svg', { class: 'chart line-chart', viewBox: `0 0 ${width} ${h}`, role: 'img',
    'aria-label': title, width, height: h });
  svg.append(s('title', {}, title));
  const axis = s('g', { class: 'axis' });
  for (const v of ticksOf(lo, hi, integer)) {
    axis.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    axis.append(s('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'y-tick' }, fmt(v)));
  }
  if (yTitle) {
    axis.append(s('text', { class: 'axis-title', 'text-anchor': 'middle',
      transform: `translate(12 ${pad.t + plotH / 2}) rotate(-90)` }, yTitle));
  }
  // As many x labels as fit side by side (about 6.5 px a Latin character at this size,
  // CJK 11): left to right, each only where it clears the one before; the last one is
  // always shown (earlier ones give way to it).
  const shown = labels.map((l) => String(format(l)));
  const est = (text) => [...text].reduce((n, c) => n + (c > '\u2e80' ? 11 : 6.5), 0);
  const anchorOf = (i) => {
    if (labels.length > 1 && i === 0) return 'start';
    return labels.length > 1 && i === labels.length - 1 ? 'end' : 'middle';
  };
  const extent = (i) => {
    const w = est(shown[i]);
    const a = anchorOf(i);
    if (a === 'start') return [x(i), x(i) + w];
    return a === 'end' ? [x(i) - w, x(i)] : [x(i) - w / 2, x(i) + w / 2];
  };
  const picked = [];
  labels.forEach((_, i) => {
    const prev = picked[picked.length - 1];
    if (prev === undefined || extent(i)[0] >= extent(prev)[1] + 8) picked.push(i);
  });
  const lastIndex = labels.length - 1;
  if (lastIndex > 0 && picked[picked.length - 1] !== lastIndex) {
    while (picked.length > 1 && extent(picked[picked.length - 1])[1] + 8 > extent(lastIndex)[0]) picked.pop();
    picked.push(lastIndex);
  }
  for (const i of picked) {
    axis.append(s('text', { x: x(i), y: height - pad.b + 16, 'text-anchor': anchorOf(i), class: 'x-tick',
      'data-period': labels[i] }, shown[i]));
  }
  svg.append(axis);
  series.forEach((ser, n) => {
    const color = `c${n % PALETTE}`;
    const pts = labels.map((label, i) => {
      const p = ser.points.find((q) => q.label === label);
      return p && Number.isFinite(p.value) ? [x(i), y(p.value), p.value, label, p.href] : null;
    }).filter(Boolean);
    const g = s('g', { class: `series ${color}`, 'data-series': ser.name });
    if (pts.length > 1) {
      g.append(s('polyline', { points: pts.map(([px, py]) => `${px},${py}`).join(' '), fill: 'none' }));
    }
    for (const [px, py, v, label, href] of pts) {
      const dot = s('circle', { cx: px, cy: py, r: href ? 4.5 : 3.5, 'data-value': v, 'data-period': label },
        s('title', {}, t('chart.series', { name: ser.name, value: fmt(v), label: format(label) })));
      g.append(href ? s('a', { href, class: 'point-link' }, dot) : dot);
    }
    svg.append(g);
  });
  if (legend) {
    series.forEach((ser, n) => {
      const lx = pad.l + (n % cols) * Math.floor(plotW / cols);
      const ly = height + Math.floor(n / cols) * 18 - 4;
      svg.append(s('g', { class: `legend c${n % PALETTE}` },
        s('rect', { x: lx, y: ly - 9, width: 10, height: 10 }),
        s('text', { x: lx + 14, y: ly }, ser.name)));
    });
  }
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

// items: [{label, value, title?, href?}], drawn in the order given (callers sort by
// value); `title` is what is shown (label, an id, stays in data-label); with `href` a bar
// is a link (the matching search). An axis under the bars with whole-number ticks when
// `integer`, named by `xTitle`.
export function barChart({ title, items, width = 560, barHeight = 22, integer = true, xTitle = '' }) {
  const pad = { l: 170, r: 48, t: 8, b: 40 };
  const lineH = 13;
  const rows = items.map((item) => wrapLabel(item.title || item.label));
  const rowH = rows.map((lines) => Math.max(barHeight, lines.length * lineH + 4) + 6);
  const plotTop = pad.t;
  const plotBottom = pad.t + rowH.reduce((a, b) => a + b, 0);
  const height = plotBottom + pad.b;
  let hi = niceMax(Math.max(...items.map((i) => i.value), 0));
  if (integer) hi = Math.max(4, 4 * Math.ceil(hi / 4));
  const plotW = width - pad.l - pad.r;
  const svg = s('svg', { class: 'chart bar-chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': title, width, height });
  svg.append(s('title', {}, title));
  const axis = s('g', { class: 'axis' });
  for (const v of ticksOf(0, hi, integer)) {
    const ax = pad.l + (v / hi) * plotW;
    axis.append(s('line', { x1: ax, x2: ax, y1: plotTop, y2: plotBottom, class: 'grid' }));
    axis.append(s('text', { x: ax, y: plotBottom + 14, 'text-anchor': 'middle', class: 'x-tick' }, fmt(v)));
  }
  if (xTitle) {
    axis.append(s('text', { x: pad.l + plotW / 2, y: plotBottom + 32, 'text-anchor': 'middle',
      class: 'axis-title' }, xTitle));
  }
  svg.append(axis);
  let y = pad.t;
  items.forEach((item, i) => {
    const w = Math.max(1, (item.value / hi) * plotW);
    const lines = rows[i];
    const top = y + (rowH[i] - 6 - lines.length * lineH) / 2 + lineH * 0.8;
    const shown = item.title || item.label;
    const text = s('text', { x: pad.l - 8, y: top, 'text-anchor': 'end', class: 'bar-label' },
      lines.map((l, n) => s('tspan', { x: pad.l - 8, dy: n ? lineH : 0 }, l)));
    const barY = y + (rowH[i] - 6 - barHeight) / 2;
    const bar = s('g', { class: 'bar c0', 'data-label': item.label, 'data-value': item.value,
      'data-title': shown },
    s('title', {}, `${shown}${shown !== item.label ? ` (${item.label})` : ''}: ${fmt(item.value)}`),
    text,
    s('rect', { x: pad.l, y: barY, width: w, height: barHeight, rx: 2 }),
    s('text', { x: pad.l + w + 6, y: barY + barHeight * 0.7, class: 'bar-value' }, fmt(item.value)));
    svg.append(item.href ? s('a', { href: item.href, class: 'bar-link', 'data-label': item.label }, bar) : bar);
    y += rowH[i];
  });
  return svg;
}
