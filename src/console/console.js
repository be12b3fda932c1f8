// console.js - the operator console's behaviour (issue 13). Plain ES2020, no
// framework, no third-party script. It gets a token (GET /console/session in
// local mode, Google's sign-in redirect in cloud mode), then polls /admin/*
// every few seconds and updates the DOM in place: rows are kept by key and
// only changed text is rewritten, so nothing jumps while it refreshes.
// Every server string is put on the page with textContent, never as HTML.
'use strict';

(() => {
  const POLL_MS = 3000;
  const TOKEN_KEY = 'catchup-jobs.console.idToken';
  const NONCE_KEY = 'catchup-jobs.console.nonce';
  const VIEWS = ['queues', 'tasks', 'schedules', 'dead-letters', 'outbox', 'sync-health'];
  const LOCAL_VIEWS = new Set(['tasks']);

  const S = {
    mode: null, // "local" | "cloud"
    clientId: null,
    token: null,
    tokenExp: 0, // Unix seconds (local sessions)
    localSession: false,
    email: null,
    view: 'queues',
    gated: true,
    now: null, // the server's business time at nowAt (performance.now())
    nowAt: 0,
    queues: [],
    cursors: {}, // view -> {stack: [cursor…], current: cursor|null}
    timer: 0,
    polling: false,
    jobTypes: [],
  };

  // ---------- small DOM helpers (text only) ----------
  const $ = (id) => document.getElementById(id);
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  function setText(node, text) {
    const t = text === null || text === undefined ? '' : String(text);
    if (node.textContent !== t) node.textContent = t;
  }
  function setClass(node, cls, on) {
    if (node.classList.contains(cls) !== !!on) node.classList.toggle(cls, !!on);
  }
  // Replaces node's children only when sig (a string) changed.
  function renderIf(node, sig, build) {
    if (node._sig === sig) return;
    node._sig = sig;
    node.replaceChildren(...[].concat(build()).filter(Boolean));
  }

  // ---------- time ----------
  function serverNow() {
    if (S.now === null) return Math.floor(Date.now() / 1000);
    return S.now + Math.floor((performance.now() - S.nowAt) / 1000);
  }
  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(t) {
    if (t === null || t === undefined) return '–';
    const d = new Date(t * 1000);
    if (Number.isNaN(d.getTime())) return String(t);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
  }
  function fmtDuration(s) {
    s = Math.abs(Math.round(s));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }
  function fmtRel(t) {
    if (t === null || t === undefined) return '';
    const d = t - serverNow();
    // The server's now is known to within a poll's round trip: a few
    // seconds either way read "now" rather than "in 1s".
    if (Math.abs(d) < 3) return 'now';
    return d > 0 ? `in ${fmtDuration(d)}` : `${fmtDuration(d)} ago`;
  }
  const fmtWhen = (t) => (t === null || t === undefined ? '–' : `${fmtTime(t)} (${fmtRel(t)})`);
  // "2026-12-02T06:17" read as UTC -> Unix seconds, or null.
  function parseUtcInput(v) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v || '');
    if (!m) return null;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) / 1000;
  }
  const json = (v) => JSON.stringify(v, null, 2);

  // ---------- status line ----------
  function status(msg, isError) {
    const s = $('status');
    setText(s, msg);
    setClass(s, 'error', isError);
  }

  // ---------- authentication ----------
  function b64urlJson(part) {
    const b = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b + '='.repeat((4 - (b.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  }
  function tokenClaims(tok) {
    try {
      return b64urlJson(tok.split('.')[1]);
    } catch {
      return null;
    }
  }
  function randomNonce() {
    const a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  // Google's redirect back: #id_token=…&… (or #error=…). The token is kept
  // only when its nonce is the one this tab sent; the fragment is cleared.
  function takeOAuthReturn() {
    const h = location.hash.slice(1);
    if (!/(^|&)(id_token|error)=/.test(h)) return null;
    const p = new URLSearchParams(h);
    history.replaceState(null, '', location.pathname + location.search);
    const sent = sessionStorage.getItem(NONCE_KEY);
    sessionStorage.removeItem(NONCE_KEY);
    if (p.get('error')) return `Google sign-in failed: ${p.get('error')}`;
    const tok = p.get('id_token');
    const c = tok && tokenClaims(tok);
    if (!c || !sent || c.nonce !== sent) return 'Sign-in answer refused: its nonce does not match this tab\'s request.';
    sessionStorage.setItem(TOKEN_KEY, tok);
    return null;
  }
  function signIn() {
    const nonce = randomNonce();
    sessionStorage.setItem(NONCE_KEY, nonce);
    const redirect = `${location.origin}/console/`;
    location.assign('https://accounts.google.com/o/oauth2/v2/auth' +
      `?client_id=${encodeURIComponent(S.clientId)}&response_type=id_token` +
      `&scope=openid%20email&redirect_uri=${encodeURIComponent(redirect)}` +
      `&nonce=${nonce}&prompt=select_account`);
  }
  async function fetchSession() {
    const r = await fetch('session', { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) throw new Error(`GET /console/session answered ${r.status}`);
    const s = await r.json();
    S.mode = s.mode === 'cloud' ? 'cloud' : 'local';
    S.clientId = typeof s.clientId === 'string' && s.clientId ? s.clientId : null;
    if (typeof s.token === 'string' && s.token) {
      S.token = s.token;
      S.tokenExp = Number(s.expiresAt) || 0;
      S.localSession = true;
      S.email = s.email || null;
    }
    return s;
  }
  function storedToken() {
    const tok = sessionStorage.getItem(TOKEN_KEY);
    const c = tok && tokenClaims(tok);
    if (!c || typeof c.exp !== 'number' || c.exp <= Date.now() / 1000 + 30) {
      sessionStorage.removeItem(TOKEN_KEY);
      return null;
    }
    S.email = c.email || null;
    return tok;
  }
  // Shows the gate (sign-in prompt, not allowed, or a message) and no data.
  function gate(kind, text) {
    S.gated = true;
    S.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopPolling();
    clearData();
    document.body.classList.add('gated');
    const g = $('gate');
    g.hidden = false;
    const btn = $('gate-signin');
    if (kind === 'forbidden') {
      setText($('gate-title'), 'Not allowed');
      setText($('gate-text'), text || 'This account is not allowed to use the console. Ask for its e-mail to be added to ENQUEUE_ALLOWED_EMAILS, or sign in with another account.');
      setText(btn, 'Sign in with another account');
    } else {
      setText($('gate-title'), 'Sign in');
      setText($('gate-text'), text || (S.clientId
        ? 'Sign in with the Google account of an operator (listed in ENQUEUE_ALLOWED_EMAILS) to see the queues, tasks, schedules, dead letters, outbox and sync health.'
        : (S.mode === 'local'
          ? 'Open the console from the machine the server runs on (http://127.0.0.1:PORT/console/): local mode hands out its token only there.'
          : 'Sign-in is not configured: set CONSOLE_OAUTH_CLIENT_ID (see the README, "Operator console").')));
      setText(btn, 'Sign in with Google');
    }
    btn.hidden = !S.clientId;
    if (!btn.hidden) btn.focus();
  }
  function ungate() {
    S.gated = false;
    $('gate').hidden = true;
    document.body.classList.remove('gated');
  }
  // Wipes every value shown (after a 401/403: what was seen stays unseen).
  function clearData() {
    for (const id of ['f-mode', 'f-version', 'f-now', 'f-dead']) setText($(id), '–');
    $('ready').replaceChildren(el('li', { class: 'chip muted', text: '–' }));
    $('ready')._sig = undefined;
    $('outcomes').replaceChildren();
    for (const t of Object.values(tables)) t.clear();
  }

  class HttpError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }
  // Calls an /admin endpoint with the token. 401: a local session fetches a
  // new token once, a Google one goes back to the sign-in prompt; 403: "not
  // allowed". Throws HttpError for other failures.
  async function api(method, path, body, retried) {
    if (!S.token) throw new HttpError(401, { message: 'not signed in' });
    const opts = { method, headers: { Authorization: `Bearer ${S.token}` }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let data = null;
    try {
      data = await r.json();
    } catch {
      data = null;
    }
    if (r.status === 401) {
      if (S.localSession && !retried) {
        S.token = null;
        await fetchSession();
        if (S.token) return api(method, path, body, true);
      }
      gate('signin', 'Your sign-in has expired or was refused: sign in again.');
      throw new HttpError(401, data);
    }
    if (r.status === 403) {
      gate('forbidden', S.email
        ? `${S.email} is not allowed to use the console (it is not in ENQUEUE_ALLOWED_EMAILS).`
        : null);
      throw new HttpError(403, data);
    }
    if (!r.ok) throw new HttpError(r.status, data);
    return data;
  }
  const enc = encodeURIComponent;

  // ---------- keyed tables ----------
  // A table whose rows are kept by key across refreshes: existing rows are
  // updated in place, new ones inserted, gone ones removed.
  class Table {
    constructor(container, caption, columns, key, opts = {}) {
      this.columns = columns;
      this.key = key;
      this.opts = opts;
      this.table = el('table', { class: opts.class || 'data' });
      this.table.append(el('caption', { class: 'sr-only', text: caption }));
      const hr = el('tr');
      for (const c of columns) hr.append(el('th', { scope: 'col', class: c.local ? 'local-only' : null }, c.label));
      this.table.append(el('thead', null, hr));
      this.body = el('tbody');
      this.empty = el('tr', { class: 'empty' }, el('td', { colspan: columns.length, text: opts.empty || 'Nothing here.' }));
      this.body.append(this.empty);
      this.table.append(this.body);
      container.replaceChildren(this.table);
      this.rows = new Map();
    }
    clear() {
      for (const tr of this.rows.values()) tr.remove();
      this.rows.clear();
      this.empty.hidden = false;
      setText(this.empty.firstChild, this.opts.empty || 'Nothing here.');
    }
    render(items) {
      const seen = new Set();
      let prev = this.empty;
      for (const item of items) {
        const k = String(this.key(item));
        seen.add(k);
        let tr = this.rows.get(k);
        if (!tr) {
          tr = el('tr');
          tr.dataset.key = k;
          tr._item = item;
          for (const c of this.columns) {
            const td = el('td', { 'data-label': c.label, class: [c.cls, c.local ? 'local-only' : ''].filter(Boolean).join(' ') || null });
            if (c.make) c.make(td, tr);
            tr.append(td);
          }
          this.rows.set(k, tr);
        }
        tr._item = item;
        this.columns.forEach((c, i) => c.update(tr.children[i], item, tr));
        if (this.opts.rowClass) for (const [cls, on] of Object.entries(this.opts.rowClass(item))) setClass(tr, cls, on);
        if (prev.nextSibling !== tr) prev.after(tr);
        prev = tr;
      }
      for (const [k, tr] of this.rows) {
        if (!seen.has(k)) {
          tr.remove();
          this.rows.delete(k);
        }
      }
      this.empty.hidden = items.length > 0;
    }
    setEmptyText(t) {
      setText(this.empty.firstChild, t);
    }
  }
  // Column helpers
  const textCol = (label, get, cls) => ({ label, cls, update: (td, it) => setText(td, get(it)) });
  const whenCol = (label, get) => ({ label, cls: 'num small', update: (td, it) => setText(td, fmtWhen(get(it))) });
  const payloadCol = (label, get) => ({
    label,
    make: (td) => {
      const pre = el('pre');
      td.append(el('details', null, el('summary', { text: 'show' }), pre));
      td._pre = pre;
    },
    update: (td, it) => setText(td._pre, get(it) === null || get(it) === undefined ? 'null' : json(get(it))),
  });
  // A column of buttons: defs [{label, run(item), show(item), danger, confirm(item)}].
  function actionsCol(label, defs) {
    return {
      label,
      make: (td, tr) => {
        const box = el('div', { class: 'actions' });
        td._btns = defs.map((d) => {
          const b = el('button', { type: 'button', class: d.danger ? 'danger' : null });
          b.addEventListener('click', () => act(b, tr._item, d));
          box.append(b);
          return b;
        });
        td.append(box);
      },
      update: (td, it) => defs.forEach((d, i) => {
        const b = td._btns[i];
        setText(b, typeof d.label === 'function' ? d.label(it) : d.label);
        const shown = d.show ? d.show(it) : true;
        if (b.hidden !== !shown) b.hidden = !shown;
        const aria = d.aria ? d.aria(it) : null;
        if (aria && b.getAttribute('aria-label') !== aria) b.setAttribute('aria-label', aria);
      }),
    };
  }
  async function act(button, item, d) {
    if (d.confirm && !window.confirm(d.confirm(item))) return;
    button.disabled = true;
    try {
      const msg = await d.run(item);
      if (msg !== null) status(msg || 'Done.', false);
    } catch (e) {
      if (!(e instanceof HttpError && (e.status === 401 || e.status === 403))) status(`Failed: ${e.message}`, true);
    } finally {
      button.disabled = false;
    }
    refreshSoon();
  }

  // ---------- pagers ----------
  function cursorState(view) {
    if (!S.cursors[view]) S.cursors[view] = { stack: [], current: null, next: null };
    return S.cursors[view];
  }
  function setupPager(view, containerId) {
    const c = $(containerId);
    const first = el('button', { type: 'button', text: 'First page' });
    const prev = el('button', { type: 'button', text: 'Previous page' });
    const next = el('button', { type: 'button', text: 'Next page' });
    c.append(first, prev, next);
    const st = cursorState(view);
    first.addEventListener('click', () => { st.stack = []; st.current = null; refreshSoon(); });
    prev.addEventListener('click', () => { st.current = st.stack.pop() ?? null; refreshSoon(); });
    next.addEventListener('click', () => {
      if (!st.next) return;
      st.stack.push(st.current);
      st.current = st.next;
      refreshSoon();
    });
    st.buttons = { first, prev, next };
  }
  function updatePager(view, nextCursor) {
    const st = cursorState(view);
    st.next = nextCursor || null;
    if (!st.buttons) return;
    st.buttons.first.disabled = st.current === null;
    st.buttons.prev.disabled = st.stack.length === 0;
    st.buttons.next.disabled = !st.next;
  }
  function resetPager(view) {
    const st = cursorState(view);
    st.stack = [];
    st.current = null;
  }
  function pageQuery(view) {
    const cur = cursorState(view).current;
    return cur ? `&cursor=${enc(cur)}` : '';
  }

  // ---------- header ----------
  const OUTCOMES = ['completed', 'duplicate', 'in_progress', 'retry', 'failed', 'rejected'];
  let outcomesTable = null;
  function renderOverview(o) {
    S.now = Number(o.now) || null;
    S.nowAt = performance.now();
    setText($('f-mode'), o.mode === 'cloud' ? 'cloud' : 'local');
    setText($('f-version'), o.version);
    setText($('f-dead'), o.deadLetters);
    const ready = o.ready || {};
    const deps = Object.entries(ready).filter(([k, v]) => k !== 'status' && v && typeof v === 'object');
    renderIf($('ready'), JSON.stringify(ready), () => [
      el('li', { class: `chip ${ready.status === 'ok' ? 'ok' : 'bad'}` }, `overall: ${ready.status || '?'}`),
      ...deps.map(([name, v]) => {
        const st = String(v.status || '?');
        const extra = [v.mode, v.latencyMs !== undefined ? `${v.latencyMs} ms` : null,
          v.keys !== undefined ? `${v.keys} keys` : null,
          v.ageSeconds !== undefined ? `age ${fmtDuration(v.ageSeconds)}` : null].filter((x) => x !== null && x !== undefined);
        return el('li', { class: `chip ${st === 'ok' ? 'ok' : st === 'stale' ? 'warn' : 'bad'}` },
          `${name}: ${st}${extra.length ? ` (${extra.join(', ')})` : ''}`);
      }),
    ]);
    if (!outcomesTable) {
      outcomesTable = new Table($('outcomes'), 'Job outcomes per type over the last hour',
        [textCol('type', (r) => r.type), ...OUTCOMES.map((k) => ({
          label: k.replace('_', ' '), cls: 'num', update: (td, r) => { setText(td, r[k] || 0); setClass(td, 'err', k === 'failed' && r[k] > 0); },
        }))], (r) => r.type, { empty: 'No job in the last hour.', class: 'compact' });
      tables.outcomes = outcomesTable;
    }
    outcomesTable.render(Array.isArray(o.outcomes) ? o.outcomes : []);
  }
  function tickClock() {
    if (S.now !== null && !S.gated) setText($('f-now'), fmtTime(serverNow()));
  }

  // ---------- views ----------
  const tables = {};

  function queueByName(n) {
    return S.queues.find((q) => q.name === n);
  }
  function fmtRetry(q) {
    const r = q.retryConfig || {};
    return `${r.maxAttempts === -1 ? 'unlimited' : r.maxAttempts} attempts, backoff ${r.minBackoff || '?'}–${r.maxBackoff || '?'}, ${r.maxDoublings ?? '?'} doublings`;
  }
  function fmtRate(q) {
    const r = q.rateLimits || {};
    return `${r.maxDispatchesPerSecond ?? '?'}/s, ${r.maxConcurrentDispatches ?? '?'} at once`;
  }
  function setupQueues() {
    tables.queues = new Table($('queues-table'), 'Queues', [
      { label: 'Queue', update: (td, q) => renderIf(td, JSON.stringify([q.name, q.types]), () => [el('strong', { text: q.name }), el('div', { class: 'small muted', text: (q.types || []).join(', ') || 'no job type' })]) },
      textCol('Retry', fmtRetry, 'small'),
      textCol('Rate limits', fmtRate, 'small'),
      textCol('Deadline', (q) => q.dispatchDeadline, 'num'),
      { label: 'Depth', cls: 'num', local: true, update: (td, q) => setText(td, q.state ? q.state.depth : '–') },
      { label: 'In flight', cls: 'num', local: true, update: (td, q) => setText(td, q.state ? q.state.inFlight : '–') },
      { label: 'State', local: true, update: (td, q) => setText(td, q.state ? (q.state.paused ? 'paused' : 'running') : '–') },
      { label: 'Next due', cls: 'num small', local: true, update: (td, q) => setText(td, q.state ? fmtWhen(q.state.nextDue) : '–') },
      { ...actionsCol('Actions', [
        { label: (q) => (q.state && q.state.paused ? 'Resume' : 'Pause'),
          aria: (q) => `${q.state && q.state.paused ? 'Resume' : 'Pause'} ${q.name}`,
          run: async (q) => { const verb = q.state && q.state.paused ? 'resume' : 'pause'; await api('POST', `/admin/queues/${enc(q.name)}/${verb}`); return `${q.name}: ${verb}d.`; } },
        { label: 'Purge', danger: true, aria: (q) => `Purge ${q.name}`,
          confirm: (q) => `Delete every task waiting in ${q.name}?`,
          run: async (q) => { await api('POST', `/admin/queues/${enc(q.name)}/purge`); return `${q.name}: purged.`; } },
        { label: 'Tasks', aria: (q) => `Tasks of ${q.name}`,
          run: async (q) => { $('tasks-queue').value = q.name; resetPager('tasks'); location.hash = '#tasks'; return null; } },
      ]), local: true },
    ], (q) => q.name, { empty: 'No queue.', rowClass: (q) => ({ paused: !!(q.state && q.state.paused) }) });
  }
  async function refreshQueues() {
    const d = await api('GET', '/admin/queues');
    S.queues = Array.isArray(d.queues) ? d.queues : [];
    const types = new Set();
    for (const q of S.queues) for (const t of q.types || []) types.add(t);
    S.jobTypes = [...types].sort();
    fillSelect($('tasks-queue'), S.queues.map((q) => [q.name, q.name]), false);
    fillSelect($('dead-type'), [['', 'all types'], ...S.jobTypes.map((t) => [t, t])], false);
    if (S.view === 'queues') tables.queues.render(S.queues);
  }
  // Fills a select with [value, text] options once they differ, keeping its value.
  function fillSelect(sel, opts, force) {
    const sig = JSON.stringify(opts);
    if (sel._sig === sig && !force) return;
    const v = sel.value;
    sel._sig = sig;
    sel.replaceChildren(...opts.map(([val, text]) => el('option', { value: val, text })));
    if (opts.some(([val]) => val === v)) sel.value = v;
  }

  function setupTasks() {
    tables.tasks = new Table($('tasks-table'), 'Tasks of the queue', [
      textCol('Task', (t) => t.id, 'mono small'),
      textCol('Type', (t) => t.type || '–'),
      whenCol('Scheduled', (t) => t.scheduleTime),
      textCol('Attempts', (t) => t.attempts, 'num'),
      { label: 'Last attempt', cls: 'small', update: (td, t) => {
        const la = t.lastAttempt;
        setText(td, la ? `${fmtTime(la.at)}: ${la.status === null || la.status === undefined ? 'no answer' : `HTTP ${la.status}`}${la.error ? ` — ${la.error}` : ''}` : 'not yet');
      } },
      textCol('Running', (t) => (t.running ? 'yes' : 'no')),
      payloadCol('Payload', (t) => t.payload),
      actionsCol('Actions', [
        { label: 'Run now', aria: (t) => `Run task ${t.id} now`,
          run: async (t) => { await api('POST', `/admin/queues/${enc(t.queue)}/tasks/${enc(t.id)}/run`); return `Task ${t.id} dispatched.`; } },
        { label: 'Delete', danger: true, aria: (t) => `Delete task ${t.id}`, confirm: (t) => `Delete task ${t.id}?`,
          run: async (t) => { await api('DELETE', `/admin/queues/${enc(t.queue)}/tasks/${enc(t.id)}`); return `Task ${t.id} deleted.`; } },
      ]),
    ], (t) => `${t.queue}/${t.id}`, { empty: 'No task waiting in this queue.', rowClass: (t) => ({ problem: !!(t.lastAttempt && t.lastAttempt.status !== 200 && t.attempts > 0) }) });
    $('tasks-queue').addEventListener('change', () => { resetPager('tasks'); refreshSoon(); });
    setupPager('tasks', 'tasks-pager');
  }
  async function refreshTasks() {
    if (!S.queues.length) await refreshQueues();
    const q = $('tasks-queue').value || (S.queues[0] && S.queues[0].name);
    if (!q) return;
    const d = await api('GET', `/admin/queues/${enc(q)}/tasks?limit=50${pageQuery('tasks')}`);
    tables.tasks.render(Array.isArray(d.tasks) ? d.tasks : []);
    updatePager('tasks', d.next);
  }

  function setupSchedules() {
    tables.schedules = new Table($('schedules-table'), 'Schedules', [
      { label: 'Schedule', update: (td, s) => renderIf(td, JSON.stringify([s.name, s.jobType]), () => [el('strong', { text: s.name }), el('div', { class: 'small muted', text: `job ${s.jobType}` })]) },
      { label: 'Cron', update: (td, s) => renderIf(td, JSON.stringify([s.cron, s.timeZone]), () => [el('code', { text: s.cron }), el('div', { class: 'small muted', text: s.timeZone })]) },
      { label: 'Next fire times', cls: 'small num', update: (td, s) => renderIf(td, JSON.stringify(s.next) + Math.floor(serverNow() / 10), () => el('ul', { class: 'plain' }, ...(s.next || []).map((t) => el('li', { text: fmtWhen(t) })))) },
      { label: 'Last run', cls: 'small num', local: true, update: (td, s) => setText(td, s.lastRun ? `${fmtWhen(s.lastRun.at)}${s.lastRun.status === null || s.lastRun.status === undefined ? ', no answer yet' : `, HTTP ${s.lastRun.status}`}` : 'never') },
      payloadCol('Payload', (s) => s.payload),
      { ...actionsCol('Actions', [
        { label: 'Fire now', aria: (s) => `Fire ${s.name} now`,
          run: async (s) => { await api('POST', `/admin/schedules/${enc(s.name)}/fire`); return `${s.name}: fired.`; } },
      ]), local: true },
    ], (s) => s.name, { empty: 'No schedule in config/schedules.json.' });
    const adv = async (seconds) => {
      try {
        const c = await api('POST', '/admin/clock/advance', { seconds });
        renderClock(c);
        status(`Clock advanced by ${fmtDuration(seconds)}.`, false);
      } catch (e) {
        if (!(e instanceof HttpError && (e.status === 401 || e.status === 403))) status(`Failed: ${e.message}`, true);
      }
      refreshSoon();
    };
    for (const b of document.querySelectorAll('[data-advance]')) b.addEventListener('click', () => adv(Number(b.dataset.advance)));
    $('clock-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const n = Number($('clock-seconds').value);
      if (!Number.isInteger(n) || n < 1) {
        status('Advance by a positive whole number of seconds.', true);
        return;
      }
      adv(n);
    });
  }
  function renderClock(c) {
    if (!c) return;
    setText($('clock-now'), fmtTime(c.now));
    setText($('clock-offset'), `(offset ${c.offsetSeconds >= 0 ? '+' : '−'}${fmtDuration(c.offsetSeconds)} from real time)`);
  }
  async function refreshSchedules() {
    const d = await api('GET', '/admin/schedules?count=5');
    tables.schedules.render(Array.isArray(d.schedules) ? d.schedules : []);
    if (S.mode === 'local') renderClock(d.clock);
  }

  const selectedDead = new Set();
  function updateReplaySelected() {
    const b = $('dead-replay-selected');
    setText(b, selectedDead.size ? `Replay selected (${selectedDead.size})` : 'Replay selected');
    b.disabled = selectedDead.size === 0;
  }
  async function replay(d) {
    const r = await api('POST', `/admin/dead-letters/${enc(d.id)}/replay`);
    return r && r.task ? String(r.task).split('/').pop() : '';
  }
  function setupDeadLetters() {
    tables.dead = new Table($('dead-table'), 'Dead letters', [
      { label: 'Select', make: (td, tr) => {
        const cb = el('input', { type: 'checkbox' });
        cb.addEventListener('change', () => {
          if (cb.checked) selectedDead.add(tr._item.id); else selectedDead.delete(tr._item.id);
          updateReplaySelected();
        });
        td.append(cb);
        td._cb = cb;
      }, update: (td, d) => {
        td._cb.checked = selectedDead.has(d.id);
        const lbl = `Select dead letter ${d.id}`;
        if (td._cb.getAttribute('aria-label') !== lbl) td._cb.setAttribute('aria-label', lbl);
      } },
      whenCol('Failed', (d) => d.failedAt),
      textCol('Type', (d) => d.type),
      { label: 'Queue / task', cls: 'small', update: (td, d) => renderIf(td, JSON.stringify([d.queue, d.taskName]), () => [el('div', { text: d.queue || '–' }), el('div', { class: 'mono muted', text: d.taskName || '–' })]) },
      textCol('Attempts', (d) => d.attempts, 'num'),
      textCol('Last error', (d) => d.lastError || '–', 'err small'),
      { label: 'Replayed', cls: 'small num', update: (td, d) => setText(td, d.replayedAt ? fmtWhen(d.replayedAt) : 'no') },
      payloadCol('Payload', (d) => d.payload),
      actionsCol('Actions', [
        { label: (d) => (d.replayedAt ? 'Replay again' : 'Replay'), aria: (d) => `Replay dead letter ${d.id}`,
          run: async (d) => { const t = await replay(d); return `Replayed as task ${t}.`; } },
      ]),
    ], (d) => d.id, { empty: 'No dead letter.', rowClass: (d) => ({ replayed: !!d.replayedAt }) });
    $('dead-form').addEventListener('submit', (ev) => { ev.preventDefault(); resetPager('dead-letters'); refreshSoon(); });
    $('dead-type').addEventListener('change', () => { resetPager('dead-letters'); refreshSoon(); });
    $('dead-replay-selected').addEventListener('click', async () => {
      const b = $('dead-replay-selected');
      const ids = [...selectedDead];
      b.disabled = true;
      let ok = 0;
      const failed = [];
      for (const id of ids) {
        try {
          await replay({ id });
          ok++;
          selectedDead.delete(id);
        } catch (e) {
          if (e instanceof HttpError && (e.status === 401 || e.status === 403)) return;
          failed.push(`${id}: ${e.message}`);
        }
      }
      status(failed.length ? `Replayed ${ok}; failed ${failed.join('; ')}` : `Replayed ${ok} dead letter${ok === 1 ? '' : 's'}.`, failed.length > 0);
      updateReplaySelected();
      refreshSoon();
    });
    setupPager('dead-letters', 'dead-pager');
  }
  async function refreshDeadLetters() {
    let q = `limit=50${pageQuery('dead-letters')}`;
    const type = $('dead-type').value;
    const since = parseUtcInput($('dead-since').value);
    const until = parseUtcInput($('dead-until').value);
    if (type) q += `&type=${enc(type)}`;
    if (since !== null) q += `&since=${since}`;
    if (until !== null) q += `&until=${until}`;
    const d = await api('GET', `/admin/dead-letters?${q}`);
    const items = Array.isArray(d.deadLetters) ? d.deadLetters : [];
    tables.dead.render(items);
    updatePager('dead-letters', d.next);
  }

  function setupOutbox() {
    tables.outbox = new Table($('outbox-table'), 'Outbox rows', [
      whenCol('Created', (o) => o.createdAt),
      { label: 'User', cls: 'small', update: (td, o) => setText(td, o.userId || '–') },
      textCol('Channel', (o) => o.channel),
      textCol('To', (o) => o.to || '–', 'small'),
      textCol('Key', (o) => o.key, 'mono small'),
      textCol('State', (o) => o.state),
      textCol('Provider id', (o) => o.providerId || '–', 'mono small'),
      textCol('Error', (o) => o.error || '–', 'err small'),
      whenCol('Sent', (o) => o.sentAt),
      actionsCol('Actions', [
        { label: 'Resend', show: (o) => o.state === 'sending', aria: (o) => `Resend outbox row ${o.id}`,
          confirm: () => 'Send this message again? Do it only when the provider did not deliver it.',
          run: async (o) => { await api('POST', `/admin/outbox/${enc(o.id)}/resend`); return `Outbox row ${o.id}: resent.`; } },
        { label: 'Mark done', show: (o) => o.state === 'sending', aria: (o) => `Mark outbox row ${o.id} done`,
          run: async (o) => { await api('POST', `/admin/outbox/${enc(o.id)}/done`); return `Outbox row ${o.id}: marked done.`; } },
      ]),
    ], (o) => o.id, { empty: 'No outbox row in this state.', rowClass: (o) => ({ problem: o.state === 'sending' || o.state === 'failed' }) });
    $('outbox-state').addEventListener('change', () => { resetPager('outbox'); refreshSoon(); });
    setupPager('outbox', 'outbox-pager');
  }
  async function refreshOutbox() {
    const d = await api('GET', `/admin/outbox?state=${enc($('outbox-state').value)}&limit=50${pageQuery('outbox')}`);
    tables.outbox.render(Array.isArray(d.outbox) ? d.outbox : []);
    updatePager('outbox', d.next);
  }

  const PROBLEM_TEXT = {
    token_revoked: 'Google token revoked: the user must reconnect Google',
    token_error: 'Google token refresh failing',
    no_token: 'no Google token stored',
    sync_overdue: 'a sync is overdue by more than one interval',
    never_synced: 'never synced',
    channel_missing: 'a synced calendar has no active push channel',
    channel_expired: 'a push channel has expired',
    channel_silent: 'a push channel has gone silent',
  };
  function setupSyncHealth() {
    tables.sync = new Table($('sync-table'), 'Sync health per user', [
      { label: 'User', update: (td, u) => renderIf(td, JSON.stringify([u.email, u.id]), () => [el('div', { text: u.email || '–' }), el('div', { class: 'mono small muted', text: u.id })]) },
      { label: 'Google token', cls: 'small', update: (td, u) => {
        const g = u.google || {};
        renderIf(td, JSON.stringify(g) + Math.floor(serverNow() / 30), () => [
          el('span', { class: `chip ${g.status === 'ok' ? 'ok' : g.status === 'none' ? 'warn' : 'bad'}`, text: g.status || '?' }),
          g.expiresAt ? el('div', { text: `expires ${fmtWhen(g.expiresAt)}` }) : null,
          g.lastError ? el('div', { class: 'err', text: g.lastError }) : null,
        ]);
      } },
      { label: 'Syncs', cls: 'small', update: (td, u) => renderIf(td, JSON.stringify(u.sync) + Math.floor(serverNow() / 30), () => (u.sync && u.sync.length
        ? el('ul', { class: 'plain' }, ...u.sync.map((s) => el('li', null,
          el('strong', { text: `${s.kind}${s.calendarId ? ` (${s.calendarId})` : ''}` }),
          el('div', { text: `last ${s.lastSyncAt ? fmtWhen(s.lastSyncAt) : 'never'}${s.lastChanges !== null && s.lastChanges !== undefined ? `, ${s.lastChanges} changes` : ''}` }),
          el('div', { text: `every ${s.intervalSeconds ? fmtDuration(s.intervalSeconds) : '–'}, next ${s.nextSyncAt ? fmtWhen(s.nextSyncAt) : '–'}` }))))
        : el('span', { class: 'muted', text: 'no sync yet' }))) },
      { label: 'Calendar channels', cls: 'small', update: (td, u) => renderIf(td, JSON.stringify(u.channels) + Math.floor(serverNow() / 30), () => (u.channels && u.channels.length
        ? el('ul', { class: 'plain' }, ...u.channels.map((c) => el('li', null,
          el('span', { class: `chip ${c.state === 'active' && !c.flagged ? 'ok' : 'bad'}`, text: `${c.state}${c.flagged ? ', silent' : ''}` }), ' ',
          el('span', { text: c.calendarId || '' }),
          el('div', { text: `expires ${fmtWhen(c.expiration)}` }),
          el('div', { class: 'muted', text: `last message ${c.lastMessageAt ? fmtWhen(c.lastMessageAt) : 'never'}` }))))
        : el('span', { class: 'muted', text: 'none' }))) },
      { label: 'Problems', update: (td, u) => renderIf(td, JSON.stringify(u.problems), () => (u.problems && u.problems.length
        ? el('ul', { class: 'plain' }, ...u.problems.map((p) => el('li', null, el('span', { class: 'chip bad', text: p }), el('div', { class: 'small', text: PROBLEM_TEXT[p] || '' }))))
        : el('span', { class: 'chip ok', text: 'none' }))) },
    ], (u) => u.id, { empty: 'No user to show.', rowClass: (u) => ({ problem: !!(u.problems && u.problems.length) }) });
    $('sync-filter').addEventListener('change', () => { resetPager('sync-health'); refreshSoon(); });
    setupPager('sync-health', 'sync-pager');
  }
  async function refreshSyncHealth() {
    const filter = $('sync-filter').value;
    const d = await api('GET', `/admin/sync-health?filter=${enc(filter)}&limit=50${pageQuery('sync-health')}`);
    tables.sync.render(Array.isArray(d.users) ? d.users : []);
    tables.sync.setEmptyText(filter === 'problems' ? 'No user with a problem on this page.' : 'No user.');
    updatePager('sync-health', d.next);
  }

  const REFRESH = {
    queues: refreshQueues,
    tasks: refreshTasks,
    schedules: refreshSchedules,
    'dead-letters': refreshDeadLetters,
    outbox: refreshOutbox,
    'sync-health': refreshSyncHealth,
  };

  // ---------- navigation and polling ----------
  function viewFromHash() {
    const v = location.hash.replace(/^#/, '');
    if (VIEWS.includes(v) && !(LOCAL_VIEWS.has(v) && S.mode === 'cloud')) return v;
    return 'queues';
  }
  function showView(v) {
    S.view = v;
    for (const sec of document.querySelectorAll('section.view')) sec.hidden = sec.dataset.view !== v;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === v) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${$(`view-${v}`).querySelector('h2').textContent} · catchup-jobs console`;
  }
  function stopPolling() {
    clearTimeout(S.timer);
    S.timer = 0;
  }
  function refreshSoon() {
    stopPolling();
    S.timer = setTimeout(poll, 0);
  }
  async function poll() {
    S.timer = 0;
    if (S.gated) return;
    if (S.polling) {
      S.timer = setTimeout(poll, 200);
      return;
    }
    S.polling = true;
    try {
      if (S.localSession && S.tokenExp && S.tokenExp - Date.now() / 1000 < 300) await fetchSession();
      if (!S.queues.length && S.view !== 'queues') await refreshQueues();
      // The header and the view refresh side by side; one failing does not
      // keep the other from showing what it has.
      const [ov, view] = await Promise.allSettled([api('GET', '/admin/overview'), REFRESH[S.view]()]);
      if (ov.status === 'fulfilled') renderOverview(ov.value);
      tickClock();
      if (ov.status === 'rejected') throw ov.reason;
      if (view.status === 'rejected') throw view.reason;
      setText($('updated'), `updated ${fmtTime(serverNow())}`);
      if ($('status').classList.contains('error') && /^Cannot refresh/.test($('status').textContent)) status('', false);
    } catch (e) {
      if (!(e instanceof HttpError && (e.status === 401 || e.status === 403))) status(`Cannot refresh: ${e.message}`, true);
    } finally {
      S.polling = false;
    }
    if (!S.gated && !S.timer) S.timer = setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  function setupAll() {
    setupQueues();
    setupTasks();
    setupSchedules();
    setupDeadLetters();
    setupOutbox();
    setupSyncHealth();
    $('gate-signin').addEventListener('click', signIn);
    window.addEventListener('hashchange', () => {
      if (S.gated) return;
      showView(viewFromHash());
      refreshSoon();
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden && !S.gated) refreshSoon(); });
    setInterval(tickClock, 1000);
  }

  async function boot() {
    setupAll();
    const oauthError = takeOAuthReturn();
    try {
      await fetchSession();
    } catch (e) {
      S.mode = null;
      gate('message', `The console cannot reach the server: ${e.message}`);
      return;
    } finally {
      document.body.classList.remove('booting');
    }
    document.body.classList.toggle('cloud', S.mode === 'cloud');
    if (!S.token) S.token = storedToken();
    if (!S.token) {
      gate('signin', oauthError);
      return;
    }
    ungate();
    showView(viewFromHash());
    refreshSoon();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
