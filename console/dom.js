// Small DOM helpers: elements are built, never parsed from strings, so no text from the
// API can become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (name in node && !(node instanceof SVGElement) && typeof value !== 'string') {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: `h('button', {type: 'button', onclick}, 'Take')`. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, like `h`. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  fill(node, {}, children);
  return node;
}

/** A labelled form control: the label's `for` points at the control. */
let controlCount = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++controlCount}`;
  control.id = id;
  const hintNode = hint ? h('small', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintNode);
}

/** Text with `**matched**` words shown as <mark> (the call search's snippets). */
export function highlighted(text) {
  const parts = String(text || '').split('**');
  return parts.map((part, i) => (i % 2 === 1 ? h('mark', {}, part) : part));
}

export function formatTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '–';
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  return `${m} min ${rest} s`;
}

/** Shows a refused action (a Problem, or any error) in the page's alert region. */
export function showProblem(error) {
  const region = document.getElementById('alert');
  if (!region) return;
  const title = error.title || 'Something went wrong';
  const detail = error.detail ?? error.message ?? '';
  const fields = (error.body && Array.isArray(error.body.errors) ? error.body.errors : []).map((f) =>
    h('li', {}, `${f.field}: ${f.message}`));
  replace(region,
    h('p', {}, h('strong', { class: 'problem-title' }, title), detail && title !== detail ? ` ${detail}` : ''),
    fields.length ? h('ul', {}, fields) : null,
    h('button', { type: 'button', class: 'link', onclick: clearProblem }, 'Dismiss'));
  region.hidden = false;
  region.scrollIntoView({ block: 'nearest' });
}

export function clearProblem() {
  const region = document.getElementById('alert');
  if (!region) return;
  region.hidden = true;
  region.replaceChildren();
}

/** Runs an action, showing its refusal (if any) instead of throwing. */
export async function attempt(action) {
  try {
    clearProblem();
    return await action();
  } catch (e) {
    showProblem(e);
    return undefined;
  }
}
