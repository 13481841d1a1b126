// The sign-in page: name and password, answered by POST /admin/login. A wrong password, a
// locked account and too many attempts show the server's message under the form.

import { api } from '../core.js';
import { h, form, notice } from '../ui.js';

export function render({ reason, onSignedIn }) {
  const f = form({
    fields: [
      { name: 'name', label: 'User name', required: true, autocomplete: 'username' },
      { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' },
    ],
    submit: 'Sign in',
    onSubmit: async (values) => {
      await api('POST', '/admin/login', values);
      onSignedIn(await api('GET', '/admin/me'));
    },
  });
  const main = h('main', { class: 'signin', id: 'main', dataset: { ready: 'signin' } },
    h('div', { class: 'signin-box' },
      h('div', { class: 'brand big' }, h('img', { src: 'favicon.svg', alt: '', width: 36, height: 36 }), 'Tollgate'),
      h('h1', null, 'Sign in to the console'),
      reason ? notice(reason) : null,
      f,
      h('p', { class: 'help' }, 'First time here? The first operator is made by ', h('code', null, 'tollgate admin users create'), ' or by ', h('code', null, 'bootstrap_operator'), ' in the configuration\'s ', h('code', null, '[admin]'), '.')));
  queueMicrotask(() => f.controls.name.focus());
  return main;
}
