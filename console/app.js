// The console's shell: who is signed in, the pages and their routes (#/caller, #/agent,
// #/supervisor/...), and the alert region every page reports refusals in.

import { session, setKey, loadAccess } from './api.js';
import { h, field, replace, showProblem, clearProblem } from './dom.js';
import * as caller from './caller.js';
import * as agent from './agent.js';
import * as supervisor from './supervisor.js';

const main = document.getElementById('main');
let page = null;

function defaultRoute() {
  const role = session.access && session.access.role;
  if (role === 'frontend') return '#/caller';
  if (role === 'agent') return '#/agent';
  return '#/supervisor';
}

/** The pages each role can use (open mode: all). */
const PAGES = {
  caller: ['admin', 'frontend'],
  agent: ['admin', 'agent'],
  supervisor: ['admin', 'supervisor'],
};

function renderWho() {
  const who = document.getElementById('who');
  const access = session.access;
  for (const link of document.querySelectorAll('nav a')) {
    const page = link.getAttribute('href').slice(2).split('/')[0];
    const roles = PAGES[page];
    link.parentElement.hidden = Boolean(access && !access.open && roles && !roles.includes(access.role));
  }
  if (!access) return replace(who);
  const text = access.open
    ? 'Open mode: no key needed'
    : `Signed in as ${access.role}${access.agent ? ` ${access.agent}` : ''}`;
  replace(who,
    h('span', {}, text),
    session.key ? h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out') : null);
}

function signOut() {
  setKey(null);
  session.access = null;
  if (page && page.leave) page.leave();
  page = null;
  renderWho();
  signIn();
}

/** The sign-in box: the key is asked once and kept in this tab's sessionStorage. */
function signIn() {
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', {}, 'This warmline needs an API key. It is kept for this browser tab only.'),
    field('API key', input, 'Looks like wl_<prefix>_<secret>'),
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setKey(input.value.trim());
    try {
      await loadAccess();
      clearProblem();
      renderWho();
      if (!location.hash.startsWith('#/')) location.hash = defaultRoute();
      route();
    } catch (e) {
      setKey(null);
      showProblem(e);
      input.focus();
    }
  });
  replace(main, form);
  input.focus();
}

let routed = false;

function route() {
  if (!session.access) return;
  // After the first page, a new page takes the focus, so keyboard and screen reader users
  // start at its top rather than on the link they followed.
  if (routed) setTimeout(() => main.focus({ preventScroll: false }), 0);
  routed = true;
  let hash = location.hash;
  if (hash === '#main') return;
  if (!hash.startsWith('#/')) {
    history.replaceState(null, '', defaultRoute());
    hash = location.hash;
  }
  const [path, search] = hash.slice(2).split('?');
  const parts = path.split('/').map(decodeURIComponent);
  const params = new URLSearchParams(search || '');
  if (page && page.leave) page.leave();
  page = null;
  clearProblem();
  for (const link of document.querySelectorAll('nav a')) {
    const target = link.getAttribute('href');
    const current = target === `#/${path}` || (target === '#/supervisor' && path.startsWith('supervisor/') && !['supervisor/queue', 'supervisor/stats'].includes(path));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const context = { access: session.access };
  switch (parts[0]) {
    case 'caller':
      page = caller.render(main, context);
      break;
    case 'agent':
      page = agent.render(main, context);
      break;
    case 'supervisor':
      page = supervisor.render(main, context, parts.slice(1), params);
      break;
    default:
      replace(main, h('h1', {}, 'No such page'), h('p', {}, h('a', { href: defaultRoute() }, 'Go to the start page')));
  }
}

async function start() {
  try {
    await loadAccess();
  } catch (e) {
    if (e.status === 401) {
      setKey(null);
      signIn();
      return;
    }
    replace(main, h('h1', {}, 'warmline is unreachable'));
    showProblem(e);
    return;
  }
  renderWho();
  route();
}

window.addEventListener('hashchange', route);
start();
