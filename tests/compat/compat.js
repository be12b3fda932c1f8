// compat.js - Google's own Cloud Tasks client (@google-cloud/tasks, REST
// mode) against local mode's embedded Cloud Tasks (SPEC §5.4): create
// (named and unnamed, with scheduleTime), get, list with paging, run,
// delete, and the ALREADY_EXISTS error of a reused name.
//
// Run by tests/compat/run.sh with CJ_PORT, CJ_PROJECT, CJ_LOCATION and
// CJ_AUDIENCE / CJ_EMAIL of the server it started.
'use strict';
const assert = require('node:assert/strict');
const { CloudTasksClient } = require('@google-cloud/tasks');
const { OAuth2Client } = require('google-auth-library');

const port = Number(process.env.CJ_PORT);
const project = process.env.CJ_PROJECT || 'local';
const location = process.env.CJ_LOCATION || 'local';
const base = `http://127.0.0.1:${port}`;
const queue = 'ping-queue';

// The emulator accepts any bearer token; client libraries always send one.
const auth = new OAuth2Client();
auth.setCredentials({ access_token: 'local-test', expiry_date: Date.now() + 3600e3 });

const client = new CloudTasksClient({
  fallback: true,
  apiEndpoint: '127.0.0.1',
  port,
  protocol: 'http',
  auth,
});

const parent = client.queuePath(project, location, queue);
const unique = `${process.pid}-${Date.now()}`;

function httpTask(extra) {
  return {
    httpRequest: {
      url: `${base}/jobs/ping`,
      httpMethod: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(JSON.stringify({ from: 'compat' })).toString('base64'),
      oidcToken: {
        serviceAccountEmail: process.env.CJ_EMAIL,
        audience: process.env.CJ_AUDIENCE,
      },
    },
    ...extra,
  };
}

// The gRPC code of a failed call. google-gax 5.0.x in REST mode hands back
// gaxios' error, whose code is the HTTP status (404, not NOT_FOUND's 5) and
// whose message is Google's JSON error body, as it does against Google
// itself (fixed in later gax releases: googleapis/google-cloud-node#9346).
// Both forms are read: the gRPC code, or the body's "status" name.
const grpcCodes = { NOT_FOUND: 5, ALREADY_EXISTS: 6, INVALID_ARGUMENT: 3 };
function grpcCode(err) {
  if (typeof err.code === 'number' && err.code < 100) return err.code;
  try {
    return grpcCodes[JSON.parse(err.message).error.status];
  } catch {
    return undefined;
  }
}

const checks = [];
function check(name, fn) {
  checks.push({ name, fn });
}

const later = { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 };

check('creates a named task with a scheduleTime', async () => {
  const name = client.taskPath(project, location, queue, `named-${unique}`);
  const [task] = await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  assert.equal(task.name, name);
  assert.equal(Number(task.scheduleTime.seconds), later.seconds);
  assert.equal(task.dispatchCount, 0);
  assert.equal(task.httpRequest.url, `${base}/jobs/ping`);
});

check('creates an unnamed task and gives it a name', async () => {
  const [task] = await client.createTask({ parent, task: httpTask({ scheduleTime: later }) });
  assert.match(task.name, new RegExp(`^${parent}/tasks/[A-Za-z0-9_-]+$`));
});

check('gets a task, BASIC view without the body and FULL with it', async () => {
  const name = client.taskPath(project, location, queue, `get-${unique}`);
  await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  const [basic] = await client.getTask({ name });
  assert.equal(basic.name, name);
  assert.ok(!basic.httpRequest.body || basic.httpRequest.body.length === 0);
  const [full] = await client.getTask({ name, responseView: 'FULL' });
  assert.equal(Buffer.from(full.httpRequest.body).toString(), JSON.stringify({ from: 'compat' }));
});

check('lists tasks in pages', async () => {
  for (let i = 0; i < 5; i++) {
    const name = client.taskPath(project, location, queue, `list-${unique}-${i}`);
    await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  }
  const seen = new Set();
  let request = { parent, pageSize: 2 };
  let pages = 0;
  while (request) {
    const [tasks, next] = await client.listTasks(request, { autoPaginate: false });
    assert.ok(tasks.length <= 2);
    tasks.forEach((t) => seen.add(t.name));
    request = next;
    pages++;
    assert.ok(pages < 100, 'paging does not end');
  }
  for (let i = 0; i < 5; i++)
    assert.ok(seen.has(client.taskPath(project, location, queue, `list-${unique}-${i}`)));
  assert.ok(pages >= 3);
});

check('runs a task at once and answers the Task', async () => {
  const name = client.taskPath(project, location, queue, `run-${unique}`);
  await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  const [task] = await client.runTask({ name });
  assert.equal(task.name, name);
  // Dispatched: answered 2xx by /jobs/ping, so it is deleted soon after.
  for (let i = 0; i < 50; i++) {
    try {
      await client.getTask({ name });
    } catch (err) {
      assert.equal(grpcCode(err), 5); // NOT_FOUND
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the task run at once was never completed');
});

check('deletes a task', async () => {
  const name = client.taskPath(project, location, queue, `delete-${unique}`);
  await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  await client.deleteTask({ name });
  await assert.rejects(client.getTask({ name }), (err) => grpcCode(err) === 5);
});

check('a reused name is ALREADY_EXISTS', async () => {
  const name = client.taskPath(project, location, queue, `dup-${unique}`);
  await client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) });
  await assert.rejects(
    client.createTask({ parent, task: httpTask({ name, scheduleTime: later }) }),
    (err) => grpcCode(err) === 6 && /exist/i.test(err.message),
  );
});

check('an unknown queue is NOT_FOUND', async () => {
  const other = client.queuePath(project, location, 'no-such-queue');
  await assert.rejects(
    client.createTask({ parent: other, task: httpTask({}) }),
    (err) => grpcCode(err) === 5,
  );
});

(async () => {
  let passed = 0;
  let failed = 0;
  for (const { name, fn } of checks) {
    try {
      await fn();
      passed++;
      console.log(`ok - ${name}`);
    } catch (err) {
      failed++;
      console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
    }
  }
  console.log(`compat: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
