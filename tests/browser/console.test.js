// console.test.js - the operator console (issue 13) in a real browser:
// Debian's chromium driven by playwright-core, against the real binary on
// loopback (run.sh copies it and config/ into a temporary directory and hides
// the source tree). Local mode: a ping that fails permanently is watched from
// the queue to the dead letters and replayed; a job that failed for want of
// its user completes once the user exists and it is replayed; a paused queue
// dispatches nothing; the business clock is advanced and a schedule fires;
// keyboard focus order, a 375 px phone and no layout shift while polling.
// Cloud mode: without a token the page shows only the sign-in prompt and no
// /admin call succeeds; Google's redirect (answered here, never reaching the
// network) hands back ID tokens: one of a stranger gets "not allowed", one of
// an operator shows the data. Each test saves a screenshot (CJ_SHOTS).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn, execFile } = require('node:child_process');
const { chromium } = require('playwright-core');

const BIN = process.env.CJ_TEST_BIN;
const CONFIG = process.env.CJ_TEST_CONFIG;
const WORK = process.env.CJ_TEST_WORK;
const SHOTS = process.env.CJ_SHOTS;
const HIDDEN = process.env.CJ_HIDDEN_ROOT;
const ADMIN = 'admin@catchup-jobs.local';
const WAIT = 45000; // generous deadline for every condition (shared, loaded machine)

let browser;

// ---------- helpers ----------
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(file, args, opts) {
  return new Promise((resolve) => {
    execFile(file, args, opts, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

// Starts `catchup-jobs serve` in a fresh directory under WORK.
async function startServer(name, extraEnv, port) {
  const dir = fs.mkdtempSync(path.join(WORK, `${name}-`));
  port = port || (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    PORT: String(port),
    DATABASE_URL: `sqlite:${dir}/data/catchup.db`,
    CONFIG_DIR: CONFIG,
    LOG_LEVEL: 'info',
    OIDC_JWKS_URL: 'http://127.0.0.1:9/certs',
    ...Object.fromEntries(['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']
      .filter((k) => process.env[k]).map((k) => [k, process.env[k]])),
    ...extraEnv,
  };
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const proc = spawn(BIN, ['serve'], { cwd: dir, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  proc.on('exit', (code, sig) => { exited = code ?? sig; });
  await waitFor(`${name} server's /health/live`, async () => {
    if (exited !== null) throw new Error(`server exited (${exited}): ${fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000)}`);
    return (await fetch(`${base}/health/live`)).ok;
  });
  const srv = {
    dir, port, base, env, proc,
    cli: (args) => run(BIN, args, { cwd: dir, env }),
    log: () => fs.readFileSync(path.join(dir, 'server.log'), 'utf8'),
    // SIGTERM; resolves with the exit status (a signal's name if killed).
    stop: () => new Promise((resolve) => {
      if (exited !== null) return resolve(exited);
      proc.once('exit', (code, sig) => resolve(code ?? sig));
      proc.kill('SIGTERM');
      setTimeout(() => { if (exited === null) proc.kill('SIGKILL'); }, 30000).unref();
    }),
  };
  return srv;
}

async function newPage(srv, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  // Nothing leaves loopback: Google's sign-in page is answered by the tests.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.hostname === 'localhost') return route.continue();
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => { page._errors = (page._errors || []).concat(String(e)); });
  return page;
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// The page's "updated …" line changes once per completed refresh.
async function refreshes(page, n) {
  for (let i = 0; i < n; i++) {
    const before = await page.textContent('#updated');
    await page.waitForFunction((b) => document.getElementById('updated').textContent !== b, before, { timeout: WAIT });
  }
}

async function api(srv, token, method, p, body) {
  const r = await fetch(srv.base + p, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function openView(page, name) {
  await page.click(`#nav a[data-view="${name}"]`);
  await page.waitForSelector(`#view-${name}:not([hidden])`);
  await refreshes(page, 1);
}

const rowText = (page, sel) => page.$eval(sel, (tr) => tr.innerText);

// Steps of one scenario run in order; once one fails the rest are skipped
// (each builds on the one before), and the failure leaves a screenshot, the
// page's status line and the end of the server's log.
function stepper(t, srv, page) {
  let failed = false;
  return (name, fn) => t.test(name, async (st) => {
    if (failed) {
      st.skip('an earlier step failed');
      return;
    }
    try {
      await fn(st);
    } catch (e) {
      failed = true;
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
      await shot(page, `FAILED-${slug}`).catch(() => {});
      const line = await page.textContent('#status').catch(() => '?');
      e.message += `\n  page status: ${line}\n  server log (end):\n${srv.log().split('\n').slice(-15).join('\n')}`;
      throw e;
    }
  });
}

before(async () => {
  assert.ok(BIN && CONFIG && WORK, 'run.sh sets CJ_TEST_BIN, CJ_TEST_CONFIG and CJ_TEST_WORK');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
});
after(async () => {
  if (browser) await browser.close();
});

test('the binary under test cannot see the source tree', { skip: !HIDDEN }, () => {
  assert.deepEqual(fs.readdirSync(HIDDEN), [], `${HIDDEN} is hidden`);
});

// ---------- local mode ----------
test('local mode', async (t) => {
  const srv = await startServer('local', { ENQUEUE_ALLOWED_EMAILS: ADMIN });
  t.after(() => srv.stop());
  const tok = (await srv.cli(['token', '--email', ADMIN])).stdout.trim();
  assert.ok(tok, 'catchup-jobs token');
  const page = await newPage(srv);
  t.after(() => page.context().close());
  const step = stepper(t, srv, page);

  await step('opens with a local session: header and queues', async () => {
    const resp = await page.goto(`${srv.base}/console`);
    assert.equal(new URL(page.url()).pathname, '/console/', 'GET /console redirects to /console/');
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-security-policy'], /default-src 'self'/);
    // Over real HTTP: the asset's ETag, and a 304 for a copy the browser has.
    const js = await fetch(`${srv.base}/console/console.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(js.headers.get('cache-control'), 'no-cache');
    const again = await fetch(`${srv.base}/console/console.js`, { headers: { 'If-None-Match': js.headers.get('etag') } });
    assert.equal(again.status, 304);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    await page.waitForFunction(() => document.getElementById('f-version').textContent !== '–', null, { timeout: WAIT });
    assert.equal(await page.textContent('#f-mode'), 'local');
    await page.waitForSelector('#queues-table tr[data-key="ping-queue"]');
    assert.equal(await page.$$eval('#queues-table tbody tr[data-key]', (r) => r.length), 12);
    const chips = await page.textContent('#ready');
    assert.match(chips, /database: ok/);
    assert.equal(await page.isVisible('#gate'), false);
    await shot(page, 'local-queues');
  });

  let pingTask;
  await step('a paused queue dispatches nothing; the task waits in Tasks', async () => {
    // Keyboard: focus the Pause button and press Enter.
    await page.focus('button[aria-label="Pause ping-queue"]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#queues-table tr[data-key="ping-queue"].paused', { timeout: WAIT });
    const r = await srv.cli(['enqueue', 'ping', '{"fail":"permanent"}']);
    assert.equal(r.code, 0, r.stderr);
    pingTask = r.stdout.trim().split('/').pop();
    assert.ok(pingTask);
    await page.waitForFunction(() => {
      const tr = document.querySelector('#queues-table tr[data-key="ping-queue"]');
      return tr && tr.children[4].textContent === '1';
    }, null, { timeout: WAIT });
    await openView(page, 'tasks');
    await page.selectOption('#tasks-queue', 'ping-queue');
    const row = `#tasks-table tr[data-key="ping-queue/${pingTask}"]`;
    await page.waitForSelector(row, { timeout: WAIT });
    await refreshes(page, 2); // two more polls: still not dispatched
    const text = await rowText(page, row);
    assert.match(text, /not yet/, 'no attempt while paused');
    const q = await api(srv, tok, 'GET', '/admin/queues/ping-queue/tasks');
    assert.equal(q.body.tasks.find((x) => x.id === pingTask).attempts, 0);
    await shot(page, 'local-tasks-paused');
  });

  let firstDead;
  await step('resumed, the ping fails permanently and lands in dead letters', async () => {
    await openView(page, 'queues');
    const resume = page.locator('button[aria-label="Resume ping-queue"]');
    await resume.focus();
    await page.keyboard.press('Space');
    await page.waitForSelector('#queues-table tr[data-key="ping-queue"]:not(.paused)', { timeout: WAIT });
    await openView(page, 'dead-letters');
    await page.waitForFunction((task) => [...document.querySelectorAll('#dead-table tbody tr[data-key]')]
      .some((tr) => tr.innerText.includes(task)), pingTask, { timeout: WAIT });
    const dl = await api(srv, tok, 'GET', '/admin/dead-letters?type=ping');
    firstDead = dl.body.deadLetters.find((d) => d.taskName === pingTask);
    assert.ok(firstDead, 'a dead letter for the ping');
    const text = await rowText(page, `#dead-table tr[data-key="${firstDead.id}"]`);
    assert.match(text, /permanent/, 'the last error is shown');
    await page.click(`#dead-table tr[data-key="${firstDead.id}"] summary`);
    assert.match(await page.textContent(`#dead-table tr[data-key="${firstDead.id}"] pre`), /"fail": "permanent"/);
    await shot(page, 'local-dead-letter');
  });

  await step('replaying it runs the same payload again as a new task, which fails again', async () => {
    // SPEC §5.3: replay enqueues the original payload. {"fail":"permanent"}
    // therefore fails again: the replay's own task gets its own dead letter.
    await page.click(`button[aria-label="Replay dead letter ${firstDead.id}"]`);
    await page.waitForFunction(() => /Replayed as task/.test(document.getElementById('status').textContent), null, { timeout: WAIT });
    const replayTask = (await page.textContent('#status')).match(/task (\S+?)\.?$/)[1];
    assert.notEqual(replayTask, pingTask);
    await page.waitForFunction((id) => !/\bno\b/.test(document.querySelector(`#dead-table tr[data-key="${id}"]`).children[6].textContent), firstDead.id, { timeout: WAIT });
    await page.waitForFunction((task) => [...document.querySelectorAll('#dead-table tbody tr[data-key]')]
      .some((tr) => tr.innerText.includes(task)), replayTask, { timeout: WAIT });
    const dl = await api(srv, tok, 'GET', '/admin/dead-letters?type=ping');
    const second = dl.body.deadLetters.find((d) => d.taskName === replayTask);
    assert.deepEqual(second.payload, { fail: 'permanent' });
    assert.ok(dl.body.deadLetters.find((d) => d.id === firstDead.id).replayedAt);
    await page.waitForFunction(() => {
      const tr = document.querySelector('#outcomes tr[data-key="ping"]');
      return tr && Number(tr.children[5].textContent) >= 2;
    }, null, { timeout: WAIT });
    await shot(page, 'local-dead-letter-replayed');
  });

  await step('a job that failed for want of its user completes when replayed after the fix', async () => {
    const userId = 'console0user0000000000000000001';
    let r = await srv.cli(['enqueue', 'suggestion-generation', JSON.stringify({ userId })]);
    assert.equal(r.code, 0, r.stderr);
    const task = r.stdout.trim().split('/').pop();
    await page.selectOption('#dead-type', 'suggestion-generation');
    await page.waitForFunction((x) => [...document.querySelectorAll('#dead-table tbody tr[data-key]')]
      .some((tr) => tr.innerText.includes(x)), task, { timeout: WAIT });
    const dl = (await api(srv, tok, 'GET', '/admin/dead-letters?type=suggestion-generation')).body.deadLetters;
    const dead = dl.find((d) => d.taskName === task);
    assert.match(dead.lastError, /user/);
    r = await srv.cli(['user', 'add', '--email', 'replayed@example.com', '--id', userId]);
    assert.equal(r.code, 0, r.stderr);
    // Replay through "select" + "Replay selected".
    await page.check(`#dead-table tr[data-key="${dead.id}"] input[type=checkbox]`);
    await page.click('#dead-replay-selected');
    await page.waitForFunction(() => /Replayed 1 dead letter/.test(document.getElementById('status').textContent), null, { timeout: WAIT });
    await page.waitForFunction(() => {
      const tr = document.querySelector('#outcomes tr[data-key="suggestion-generation"]');
      return tr && Number(tr.children[1].textContent) >= 1;
    }, null, { timeout: WAIT });
    await refreshes(page, 1);
    const after = (await api(srv, tok, 'GET', '/admin/dead-letters?type=suggestion-generation')).body.deadLetters;
    assert.equal(after.length, 1, 'the replay completed: no new dead letter');
    assert.ok(after[0].replayedAt);
    await page.selectOption('#dead-type', '');
    await shot(page, 'local-replay-completed');
  });

  await step('dead letters filter by failure time', async () => {
    const rows = () => page.$$eval('#dead-table tbody tr[data-key]', (r) => r.length);
    await page.waitForFunction(() => document.querySelectorAll('#dead-table tbody tr[data-key]').length === 3, null, { timeout: WAIT });
    const iso = (t) => new Date(t * 1000).toISOString().slice(0, 16);
    const now = Math.floor(Date.now() / 1000) + 7200; // past every failure so far, whatever the clock
    await page.fill('#dead-since', iso(now));
    await page.press('#dead-since', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#dead-table tbody tr[data-key]').length === 0, null, { timeout: WAIT });
    assert.equal(await page.isVisible('#dead-table tr.empty'), true);
    await page.fill('#dead-since', '');
    await page.fill('#dead-until', iso(now));
    await page.click('#dead-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#dead-table tbody tr[data-key]').length === 3, null, { timeout: WAIT });
    assert.equal(await rows(), 3);
    await page.fill('#dead-until', '');
    await page.click('#dead-form button[type=submit]');
  });

  await step('advancing the clock fires a schedule; fire now runs one', async () => {
    await openView(page, 'schedules');
    const name = 'token-refresh-every-10m';
    await page.waitForSelector(`#schedules-table tr[data-key="${name}"]`);
    const before = (await api(srv, tok, 'GET', '/admin/schedules?count=1')).body;
    const s0 = before.schedules.find((s) => s.name === name);
    const due = s0.next[0];
    const lastBefore = s0.lastRun ? s0.lastRun.at : 0;
    assert.ok(due > lastBefore);
    const secs = Math.max(1, due - before.clock.now);
    await page.fill('#clock-seconds', String(secs));
    await page.focus('#clock-seconds');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Clock advanced/.test(document.getElementById('status').textContent), null, { timeout: WAIT });
    const fired = await waitFor('the schedule to fire', async () => {
      const s = (await api(srv, tok, 'GET', '/admin/schedules?count=1')).body.schedules.find((x) => x.name === name);
      return s.lastRun && s.lastRun.at >= due && s.lastRun.status === 200 ? s : null;
    });
    assert.ok(fired.next[0] > due);
    await page.waitForFunction(([n]) => !/never/.test(document.querySelector(`#schedules-table tr[data-key="${n}"]`).children[3].textContent), [name], { timeout: WAIT });
    assert.match(await page.textContent('#clock-offset'), /offset \+/);

    const other = 'webhook-health-check-hourly';
    await page.click(`button[aria-label="Fire ${other} now"]`);
    await waitFor('fire now to run', async () => {
      const s = (await api(srv, tok, 'GET', '/admin/schedules?count=1')).body.schedules.find((x) => x.name === other);
      return s.lastRun && s.lastRun.status === 200;
    });
    await page.waitForFunction(([n]) => /HTTP 200/.test(document.querySelector(`#schedules-table tr[data-key="${n}"]`).children[3].textContent), [other], { timeout: WAIT });
    await shot(page, 'local-schedules');
  });

  await step('sync health shows the user without a Google token, highlighted', async () => {
    // The user the replay above needed has no Google account: no_token.
    await openView(page, 'sync-health');
    assert.equal(await page.inputValue('#sync-filter'), 'problems', 'problems first');
    const row = '#sync-table tr[data-key="console0user0000000000000000001"]';
    await page.waitForSelector(`${row}.problem`, { timeout: WAIT });
    const text = await rowText(page, row);
    assert.match(text, /replayed@example\.com/);
    assert.match(text, /no_token/);
    assert.match(text, /\bnone\b/, 'token status none');
    await shot(page, 'local-sync-health');
  });

  await step('tasks: run now, delete; a queue purged', async () => {
    const enqueue = async (payload) => {
      const r = await srv.cli(['enqueue', 'ping', JSON.stringify(payload), '--delay', '3600']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('/').pop();
    };
    const gone = (id) => page.waitForFunction((x) => !document.querySelector(`#tasks-table tr[data-key="ping-queue/${x}"]`), id, { timeout: WAIT });
    const completedPings = () => page.$eval('#outcomes tr[data-key="ping"]', (tr) => Number(tr.children[1].textContent));
    const run = await enqueue({ hello: 'run now' });
    const del = await enqueue({ hello: 'delete' });
    await openView(page, 'tasks');
    await page.selectOption('#tasks-queue', 'ping-queue');
    await page.waitForSelector(`#tasks-table tr[data-key="ping-queue/${run}"]`, { timeout: WAIT });
    await page.waitForSelector(`#tasks-table tr[data-key="ping-queue/${del}"]`, { timeout: WAIT });
    const before = await completedPings();
    await page.click(`button[aria-label="Run task ${run} now"]`);
    await gone(run);
    await page.waitForFunction((n) => Number(document.querySelector('#outcomes tr[data-key="ping"]').children[1].textContent) > n, before, { timeout: WAIT });
    page.once('dialog', (d) => d.accept());
    await page.click(`button[aria-label="Delete task ${del}"]`);
    await gone(del);
    const q = (await api(srv, tok, 'GET', '/admin/queues/ping-queue/tasks')).body.tasks;
    assert.equal(q.length, 0);

    await enqueue({ hello: 'purge' });
    await openView(page, 'queues');
    await page.waitForFunction(() => document.querySelector('#queues-table tr[data-key="ping-queue"]').children[4].textContent === '1', null, { timeout: WAIT });
    page.once('dialog', (d) => d.accept());
    await page.click('button[aria-label="Purge ping-queue"]');
    await page.waitForFunction(() => document.querySelector('#queues-table tr[data-key="ping-queue"]').children[4].textContent === '0', null, { timeout: WAIT });
  });

  await step('no layout shift while the page refreshes', async () => {
    await openView(page, 'queues');
    await page.evaluate(() => {
      window.__shift = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
      }).observe({ type: 'layout-shift', buffered: false });
    });
    await refreshes(page, 3);
    const shift = await page.evaluate(() => window.__shift);
    assert.ok(shift < 0.01, `cumulative layout shift over three refreshes: ${shift}`);
  });

  await step('keyboard: focus order follows the page, Enter opens a view', async () => {
    const p = await newPage(srv);
    t.after(() => p.context().close());
    await p.goto(`${srv.base}/console/`);
    await p.waitForSelector('#queues-table tr[data-key="ping-queue"]');
    const order = [];
    for (let i = 0; i < 10; i++) {
      await p.keyboard.press('Tab');
      order.push(await p.evaluate(() => {
        const a = document.activeElement;
        const style = getComputedStyle(a);
        return { text: (a.getAttribute('aria-label') || a.textContent).trim(), outline: style.outlineStyle };
      }));
    }
    assert.deepEqual(order.slice(0, 8).map((o) => o.text),
      ['Skip to content', 'Job outcomes per type, last hour', 'Queues', 'Tasks', 'Schedules',
        'Dead letters', 'Outbox', 'Sync health']);
    assert.match(order[8].text, /^(Pause|Resume) /, 'then the first queue\'s actions');
    for (const o of order.slice(1)) assert.notEqual(o.outline, 'none', `focus is visible on ${o.text}`);
    await p.focus('#nav a[data-view="outbox"]');
    await p.keyboard.press('Enter');
    await p.waitForSelector('#view-outbox:not([hidden])');
    await shot(p, 'local-keyboard-outbox');
  });

  await step('a 375 px phone: every view without horizontal scrolling', async () => {
    const p = await newPage(srv, { width: 375, height: 812 });
    t.after(() => p.context().close());
    await p.goto(`${srv.base}/console/`);
    await p.waitForSelector('#queues-table tr[data-key="ping-queue"]');
    for (const v of ['queues', 'tasks', 'schedules', 'dead-letters', 'outbox', 'sync-health']) {
      await p.evaluate((h) => { location.hash = h; }, `#${v}`);
      await p.waitForSelector(`#view-${v}:not([hidden])`);
      await refreshes(p, 1);
      const w = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert.ok(w.scroll <= w.client, `${v}: page ${w.scroll}px wide in a ${w.client}px viewport`);
      await shot(p, `phone-${v}`);
    }
  });

  assert.deepEqual(page._errors || [], [], 'no script error on the page');
  await page.context().close();
  assert.equal(await srv.stop(), 0, `the server exits cleanly:\n${srv.log().split('\n').slice(-30).join('\n')}`);
});

// ---------- cloud mode ----------
// A JWK set of our own stands in for Google's keys, so the tests can sign ID
// tokens shaped like the ones Google's redirect hands back.
function keyServer() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'console-test-key', alg: 'RS256', use: 'sig' };
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=3600' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return {
    server,
    mint(claims) {
      const now = Math.floor(Date.now() / 1000);
      const head = b64({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' });
      const body = b64({ iss: 'https://accounts.google.com', iat: now, exp: now + 3600, email_verified: true, sub: '1234567890', ...claims });
      const sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url');
      return `${head}.${body}.${sig}`;
    },
  };
}

test('cloud mode', async (t) => {
  const CLIENT = 'console-test.apps.googleusercontent.com';
  const keys = keyServer();
  await new Promise((r) => keys.server.listen(0, '127.0.0.1', r));
  t.after(() => keys.server.close());
  const port = await freePort();
  const srv = await startServer('cloud', {
    USE_CLOUD_TASKS: 'true',
    BIND_ADDRESS: '127.0.0.1',
    GCP_PROJECT_ID: 'console-test',
    GCP_REGION: 'us-central1',
    CLOUD_RUN_URL: `http://127.0.0.1:${port}`,
    SERVICE_ACCOUNT_EMAIL: 'tasks@console-test.iam.gserviceaccount.com',
    ENQUEUE_ALLOWED_EMAILS: 'ops@example.com',
    CONSOLE_OAUTH_CLIENT_ID: CLIENT,
    OIDC_JWKS_URL: `http://127.0.0.1:${keys.server.address().port}/certs`,
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'console-test',
    CLOUD_TASKS_API_URL: 'http://127.0.0.1:9',
    GCE_METADATA_HOST: '127.0.0.1:9',
    TOKEN_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
  }, port);
  t.after(() => srv.stop());
  const page = await newPage(srv);
  t.after(() => page.context().close());
  const step = stepper(t, srv, page);
  const admin = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/admin/')) admin.push({ url: r.url(), status: r.status() });
  });
  // Google's sign-in page, answered here: remember the request, send the
  // browser back with whatever token the test chose.
  let answer = null;
  let authUrl = null;
  await page.context().route('https://accounts.google.com/**', (route) => {
    authUrl = new URL(route.request().url());
    const tokenFor = answer;
    answer = null;
    return route.fulfill({ status: 302, headers: { Location: `${srv.base}/console/#id_token=${tokenFor(authUrl.searchParams.get('nonce'))}&authuser=0` } });
  });

  await step('without a token: the sign-in prompt, no data, no /admin call succeeds', async () => {
    await page.goto(`${srv.base}/console/`);
    await page.waitForSelector('#gate:not([hidden])');
    assert.equal(await page.textContent('#gate-title'), 'Sign in');
    assert.equal(await page.isVisible('#gate-signin'), true);
    assert.equal(await page.isVisible('#nav'), false);
    assert.equal(await page.textContent('#f-version'), '–');
    assert.equal(await page.textContent('#f-mode'), '–');
    assert.equal(await page.$$eval('tbody tr[data-key]', (r) => r.length), 0, 'no row of data');
    const session = await page.evaluate(async () => (await fetch('/console/session')).json());
    assert.deepEqual(session, { mode: 'cloud', clientId: CLIENT, token: null });
    const tries = await page.evaluate(async () => Promise.all(['/admin/overview', '/admin/queues', '/admin/dead-letters'].flatMap((p) => [
      fetch(p).then((r) => r.status),
      fetch(p, { headers: { Authorization: 'Bearer not.a.token' } }).then((r) => r.status),
    ])));
    assert.deepEqual(tries, [401, 401, 401, 401, 401, 401]);
    assert.ok(admin.every((a) => a.status === 401), `every /admin call was refused: ${JSON.stringify(admin)}`);
    await shot(page, 'cloud-sign-in');
  });

  await step('an answer whose nonce is not this tab\'s is refused', async () => {
    await page.goto('about:blank'); // Google's answer is a new page load, not a hash change
    await page.goto(`${srv.base}/console/#id_token=${keys.mint({ aud: CLIENT, email: 'ops@example.com', nonce: 'forged' })}`);
    await page.waitForSelector('#gate:not([hidden])');
    assert.match(await page.textContent('#gate-text'), /nonce/);
    assert.equal(await page.evaluate(() => location.hash), '', 'the fragment is cleared');
    assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => /idToken/.test(k)).length), 0);
  });

  await step('Google\'s redirect: an account not allowed sees "not allowed" and no data', async () => {
    answer = (nonce) => keys.mint({ aud: CLIENT, email: 'eve@example.com', nonce });
    await page.click('#gate-signin');
    await page.waitForFunction(() => document.getElementById('gate-title').textContent === 'Not allowed', null, { timeout: WAIT });
    assert.equal(authUrl.origin + authUrl.pathname, 'https://accounts.google.com/o/oauth2/v2/auth');
    const q = Object.fromEntries(authUrl.searchParams);
    assert.equal(q.client_id, CLIENT);
    assert.equal(q.response_type, 'id_token');
    assert.equal(q.scope, 'openid email');
    assert.equal(q.redirect_uri, `${srv.base}/console/`);
    assert.equal(q.prompt, 'select_account');
    assert.match(q.nonce, /^[0-9a-f]{32}$/);
    assert.match(await page.textContent('#gate-text'), /eve@example\.com is not allowed/);
    assert.equal(await page.evaluate(() => location.hash), '');
    assert.equal(await page.$$eval('tbody tr[data-key]', (r) => r.length), 0, 'no row of data');
    assert.ok(admin.some((a) => a.status === 403));
    assert.ok(admin.every((a) => a.status === 401 || a.status === 403), 'no /admin call succeeded');
    await shot(page, 'cloud-not-allowed');
  });

  await step('an operator signed in with Google sees the console', async () => {
    answer = (nonce) => keys.mint({ aud: CLIENT, email: 'ops@example.com', nonce });
    await page.click('#gate-signin');
    await page.waitForSelector('#queues-table tr[data-key="ping-queue"]', { timeout: WAIT });
    await page.waitForFunction(() => document.getElementById('f-mode').textContent === 'cloud', null, { timeout: WAIT });
    assert.equal(await page.isVisible('#nav a[data-view="tasks"]'), false, 'Tasks is local mode only');
    assert.equal(await page.isVisible('button[aria-label="Pause ping-queue"]'), false);
    await openView(page, 'dead-letters');
    await openView(page, 'sync-health');
    await shot(page, 'cloud-operator');
    // The token sits in sessionStorage; an expired or refused one prompts again.
    await page.evaluate(() => sessionStorage.setItem('catchup-jobs.console.idToken', 'x.eyJleHAiOjk5OTk5OTk5OTl9.y'));
    await page.reload();
    await page.waitForFunction(() => !document.getElementById('gate').hidden, null, { timeout: WAIT });
    assert.match(await page.textContent('#gate-text'), /sign in again/);
  });

  assert.deepEqual(page._errors || [], [], 'no script error on the page');
  await page.context().close();
  assert.equal(await srv.stop(), 0, `the server exits cleanly:\n${srv.log().split('\n').slice(-30).join('\n')}`);
});
