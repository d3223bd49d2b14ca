// The live event stream (GET /v1/events). EventSource cannot send an Authorization header,
// so the stream is read with fetch and its frames parsed here; a dropped stream reconnects
// with Last-Event-ID and gets what it missed.

import { authHeaders, Problem } from './api.js';

/**
 * Follows `/v1/events` with `params` until `stop()`; calls `onEvent(event)` for each event,
 * `onState(text)` as the connection changes, and `onRefused(problem)` when the server refuses
 * the stream (no retry then: the answer would be the same).
 */
export function follow(params, { onEvent, onState = () => {}, onRefused = () => {} }) {
  const controller = new AbortController();
  let lastId = null;
  let delay = 1000;
  let stopped = false;

  async function run() {
    while (!stopped) {
      try {
        const headers = { Accept: 'text/event-stream', ...authHeaders() };
        if (lastId !== null) headers['Last-Event-ID'] = String(lastId);
        const response = await fetch(`/v1/events?${new URLSearchParams(params)}`, {
          headers,
          signal: controller.signal,
        });
        if (!response.ok) {
          let body = null;
          try {
            body = await response.json();
          } catch {
            body = null;
          }
          const problem = new Problem(response.status, body);
          if (response.status >= 400 && response.status < 500 && response.status !== 429) {
            onRefused(problem);
            return;
          }
          throw problem;
        }
        onState('live');
        delay = 1000;
        await readFrames(response.body, (frame) => {
          if (frame.id) lastId = frame.id;
          if (!frame.data) return;
          try {
            onEvent(JSON.parse(frame.data));
          } catch (e) {
            console.warn('unreadable event', e);
          }
        });
      } catch (e) {
        if (stopped || e.name === 'AbortError') return;
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  run();
  return {
    stop() {
      stopped = true;
      controller.abort();
    },
  };
}

/** Splits a text/event-stream body into frames ({id, event, data}). */
async function readFrames(body, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let frame = { data: '' };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (frame.data || frame.id) onFrame(frame);
        frame = { data: '' };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') frame.data = frame.data ? `${frame.data}\n${value}` : value;
      else if (name === 'id') frame.id = value;
      else if (name === 'event') frame.event = value;
    }
  }
}
