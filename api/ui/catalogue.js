// Readable names for intent and rule ids: GET /catalogue (titles in English and Chinese
// from intents.yaml and rules.yaml), fetched once per page load. A badge shows the title
// in the chosen language and the id on hover; an unknown id is shown as it is.
import { get } from './api.js';
import { h } from './dom.js';
import { getLang, t } from './i18n.js';

let pending = null;
let entries = { intents: new Map(), rules: new Map() };

export function loadCatalogue() {
  if (!pending) {
    pending = get('/catalogue').then((data) => {
      entries = { intents: new Map(data.intents.map((i) => [i.id, i])),
        rules: new Map(data.rules.map((r) => [r.id, r])) };
      return entries;
    }).catch(() => { pending = null; return entries; });
  }
  return pending;
}

export function resetCatalogue() { pending = null; }

function title(kind, id) {
  const entry = entries[kind].get(id);
  if (!entry) return id;
  return entry.title[getLang()] || entry.title.en || id;
}

export const intentTitle = (id) => (id ? title('intents', id) : t('none'));
export const ruleTitle = (id) => (id ? title('rules', id) : t('none'));

// [{id, title}] sorted by the shown title, for choosers.
export function choices(kind) {
  const collator = new Intl.Collator(getLang() === 'zh' ? 'zh-CN' : 'en-GB');
  return [...entries[kind].keys()].map((id) => ({ id, title: title(kind, id) }))
    .sort((a, b) => collator.compare(a.title, b.title));
}

export function intentBadge(id) {
  if (!id) return null;
  return h('span', { class: 'badge intent', title: id, 'data-id': id }, intentTitle(id));
}

export function ruleBadge(id, extra = {}) {
  return h('span', { class: 'badge rule', title: id, 'data-id': id, ...extra }, ruleTitle(id));
}
