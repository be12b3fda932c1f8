-- 0002_local_mode.sql - state of local mode's embedded Cloud Tasks and Cloud
-- Scheduler (SPEC §5.4) besides the tasks table of 0001. Cloud mode leaves
-- these tables empty.

-- emulator_queues: a queue's state as :pause / :resume set it (a queue of
-- config/queues.json without a row is RUNNING) and when it was last purged.
CREATE TABLE emulator_queues (
	name TEXT PRIMARY KEY,
	state TEXT NOT NULL DEFAULT 'RUNNING' CHECK (state IN ('RUNNING', 'PAUSED')),
	purge_time DOUBLE PRECISION
);

-- emulator_state: small named values that survive a restart, e.g.
-- 'clock_offset' (seconds the local clock runs ahead of the wall clock).
CREATE TABLE emulator_state (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- schedule_runs: per schedule of config/schedules.json, the last slot
-- (Unix seconds, business time) that fired, so slots missed while the
-- process was down fire once at start, not once per slot.
CREATE TABLE schedule_runs (
	name TEXT PRIMARY KEY,
	last_slot BIGINT NOT NULL,
	last_status INTEGER,
	last_fired_at DOUBLE PRECISION
);

-- idempotency_keys: local mode's completed idempotency keys (claims live
-- in memory), so a task whose handler finished just before a kill -9 is a
-- duplicate when it comes back. value is "done:{unix}"; expires_at is Unix
-- seconds on the wall clock (IDEMPOTENCY_TTL_SECONDS, like a Redis TTL).
CREATE TABLE idempotency_keys (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
