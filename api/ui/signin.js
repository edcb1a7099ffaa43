// Sign-in: an API key becomes a session cookie (POST /session).
import { api } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

export function render(main, ctx) {
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const input = h('input', { id: 'signin-key', name: 'key', type: 'password', required: true,
    autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'signin-intro signin-error' });
  const button = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, t('signin.submit'));
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      button.disabled = true;
      try {
        const who = await api('POST', '/session', { body: { key: input.value.trim() } });
        input.value = '';
        await ctx.signedIn(who);
      } catch (err) {
        error.textContent = t('signin.bad', { message: err.message });
        input.select();
      } finally {
        button.disabled = false;
      }
    },
  },
  h('label', { for: 'signin-key' }, t('signin.key')), input, button, error);
  main.replaceChildren(h('section', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, t('signin.title')),
    h('p', { id: 'signin-intro', class: 'muted' }, t('signin.intro')), form));
  input.focus();
  return {};
}
