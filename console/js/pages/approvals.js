// The operators' approval queue: the pending subscription requests for APIs with manual
// approval; each is approved, or rejected with a reason the requester reads on their
// Subscriptions page.

import { api, link, seg } from '../core.js';
import { h, page, table, empty, button, toast, confirmDialog, a } from '../ui.js';
import { when } from '../portal.js';

async function approvals({ refresh }) {
  const pending = ((await api('GET', '/admin/subscriptions?state=pending')) || []).sort((x, y) => x.id - y.id);
  const decide = async (s, verb) => {
    let body = {};
    if (verb === 'reject') {
      const reason = await confirmDialog(`Reject ${s.tenant}/${s.app}'s request for ${s.api}?`, { confirm: 'Reject', danger: true, reason: true });
      if (reason === false) return;
      if (reason.trim()) body = { reason: reason.trim() };
    }
    try {
      await api('POST', `/admin/subscriptions/${seg(String(s.id))}/${verb}`, body);
      toast(`${s.tenant}/${s.app} → ${s.api}: ${verb === 'approve' ? 'approved' : 'rejected'}.`);
      refresh();
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  return page({ title: 'Approvals', lead: 'Subscription requests for APIs that need an operator\'s approval, oldest first.' },
    table({
      columns: [
        { label: 'Tenant', value: (s) => s.tenant },
        { label: 'App', value: (s) => a(link('/apps', s.tenant, s.app), s.app) },
        { label: 'API', value: (s) => a(link('/catalog', s.api), s.api) },
        { label: 'Requested', value: (s) => when(s.created_at) },
        {
          label: 'Decision',
          value: (s) => h('div', { class: 'row-actions' },
            button('Approve', () => decide(s, 'approve'), 'primary', { 'aria-label': `Approve ${s.tenant}/${s.app} for ${s.api}` }),
            button('Reject', () => decide(s, 'reject'), 'danger', { 'aria-label': `Reject ${s.tenant}/${s.app} for ${s.api}` })),
        },
      ],
      rows: pending,
      empty: empty('No request is waiting. New requests for APIs with manual approval appear here.'),
    }));
}

export const routes = [
  { path: '/approvals', title: 'Approvals', nav: { section: 'Govern', label: 'Approvals' }, roles: ['operator'], render: approvals },
];
