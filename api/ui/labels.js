// Correcting a call's intent and customer sentiment (kept as training labels:
// PUT/GET /calls/{id}/labels; `callqa train --from-reviews` learns from them).
import { api, get } from './api.js';
import { choices, intentTitle } from './catalogue.js';
import { h } from './dom.js';
import './forms-i18n.js';
import { label, t } from './i18n.js';

const SENTIMENTS = ['negative', 'neutral', 'positive'];

function currentText(record) {
  if (!record || (!record.intent && !record.sentiment)) return t('labels.none');
  const last = record.history?.[record.history.length - 1];
  const what = [record.intent ? intentTitle(record.intent) : null,
    record.sentiment ? label('sentiment', record.sentiment) : null].filter(Boolean).join(' · ');
  return t('labels.current', { name: last?.reviewer || '', what });
}

// opts: {callId, toast}; qa and admin only (the caller checks the role)
export function labelsPanel({ callId, toast }) {
  const path = `/calls/${encodeURIComponent(callId)}/labels`;
  const intent = h('select', { id: 'label-intent' }, h('option', { value: '' }, t('labels.keep')),
    choices('intents').map((c) => h('option', { value: c.id, title: c.id }, c.title)));
  const sentiment = h('select', { id: 'label-sentiment' }, h('option', { value: '' }, t('labels.keep')),
    SENTIMENTS.map((v) => h('option', { value: v }, label('sentiment', v))));
  const comment = h('input', { type: 'text', id: 'label-comment', maxlength: 4000 });
  const current = h('p', { id: 'labels-current', class: 'muted' }, t('loading'));
  const status = h('p', { id: 'labels-status', class: 'muted', 'aria-live': 'polite' });

  async function save() {
    if (!intent.value && !sentiment.value) { status.textContent = t('labels.needone'); return; }
    const body = { comment: comment.value.trim() || null };
    if (intent.value) body.intent = intent.value;
    if (sentiment.value) body.sentiment = sentiment.value;
    try {
      const record = await api('PUT', path, { body });
      current.textContent = currentText(record);
      status.textContent = '';
      comment.value = '';
      toast(t('labels.saved'));
    } catch (err) {
      status.textContent = t('error', { message: err.message });
    }
  }

  get(path).then((record) => {
    current.textContent = currentText(record);
    if (record.intent) intent.value = record.intent;
    if (record.sentiment) sentiment.value = record.sentiment;
  }).catch((err) => { current.textContent = t('error', { message: err.message }); });

  return h('section', { class: 'panel', id: 'labels', 'aria-labelledby': 'labels-title' },
    h('h2', { id: 'labels-title' }, t('labels.title')),
    h('p', { class: 'muted' }, t('labels.intro')),
    current,
    h('div', { class: 'roles-form' },
      h('label', { class: 'field', for: 'label-intent' }, h('span', {}, t('labels.intent')), intent),
      h('label', { class: 'field', for: 'label-sentiment' }, h('span', {}, t('labels.sentiment')), sentiment),
      h('label', { class: 'field grow', for: 'label-comment' }, h('span', {}, t('labels.comment')), comment),
      h('button', { type: 'button', id: 'labels-save', onclick: save }, t('labels.save'))),
    status);
}
