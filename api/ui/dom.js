// Building DOM without innerHTML: h('div', {class: 'x', onclick: fn}, 'text', child, ...).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Search highlights come as HTML-escaped text with <em>...</em> around matches: keep
// exactly that markup and nothing else.
export function highlighted(html) {
  const out = document.createDocumentFragment();
  const parts = String(html).split(/(<em>|<\/em>)/);
  let inEm = false;
  for (const part of parts) {
    if (part === '<em>') { inEm = true; continue; }
    if (part === '</em>') { inEm = false; continue; }
    const text = unescape(part);
    out.append(inEm ? h('mark', {}, text) : document.createTextNode(text));
  }
  return out;
}

function unescape(text) {
  return text.replace(/&(lt|gt|amp|quot|#x27|#39);/g, (_, e) => (
    { lt: '<', gt: '>', amp: '&', quot: '"', '#x27': "'", '#39': "'" }[e]));
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '';
  const total = Math.max(0, Math.floor(seconds));
  const m = Math.floor(total / 60);
  const sec = String(total % 60).padStart(2, '0');
  return `${m}:${sec}`;
}

export function isTyping(target) {
  if (!target || !(target instanceof Element)) return false;
  return Boolean(target.closest('input, textarea, select, [contenteditable="true"]'));
}
