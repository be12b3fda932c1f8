-- 0001_schema.sql - the whole schema of SPEC §12, portable between SQLite
-- and PostgreSQL: TEXT, BIGINT, INTEGER, DOUBLE PRECISION only; no SERIAL or
-- AUTOINCREMENT (ids are application-generated random 128-bit hex text);
-- times are Unix seconds (BIGINT) unless a column says otherwise; booleans
-- are INTEGER 0/1; JSON is TEXT. Applied once by src/migrate.c inside one
-- transaction.

-- users: one CatchUp user. notify_channel picks how batch notifications and
-- reminders reach them; waking hours (minutes after local midnight in
-- `timezone`, an IANA name) bound suggestion slots; quiet hours (NULL: outside
-- waking hours) bound when messages may be sent.
CREATE TABLE users (
	id TEXT PRIMARY KEY,
	email TEXT,
	phone TEXT,
	display_name TEXT,
	timezone TEXT NOT NULL DEFAULT 'UTC',
	notify_channel TEXT NOT NULL DEFAULT 'email'
		CHECK (notify_channel IN ('email', 'sms', 'none')),
	waking_start_minute INTEGER NOT NULL DEFAULT 480
		CHECK (waking_start_minute BETWEEN 0 AND 1440),
	waking_end_minute INTEGER NOT NULL DEFAULT 1320
		CHECK (waking_end_minute BETWEEN 0 AND 1440),
	quiet_start_minute INTEGER CHECK (quiet_start_minute BETWEEN 0 AND 1440),
	quiet_end_minute INTEGER CHECK (quiet_end_minute BETWEEN 0 AND 1440),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- google_accounts: the user's connected Google account (one per user).
-- Tokens are AES-256-GCM ciphertext from src/crypto.c ("v1:..."), bound to
-- the user id as associated data. token-refresh selects active accounts whose
-- access token expires within 15 min; invalid_grant sets status 'revoked'.
-- token-health-reminder selects 'revoked'/'error' accounts not reminded in
-- the last 7 days (health_reminded_at).
CREATE TABLE google_accounts (
	user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	google_email TEXT,
	access_token_enc TEXT,
	refresh_token_enc TEXT,
	token_expires_at BIGINT,
	scopes TEXT,
	status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked', 'error')),
	last_error TEXT,
	last_refresh_at BIGINT,
	health_reminded_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX google_accounts_status_expiry ON google_accounts (status, token_expires_at);

-- contacts: a person from the user's Google Contacts (People API
-- resource_name "people/c123"), upserted by google-contacts-sync and deleted
-- when Google deletes them. catchup_frequency_days (NULL: no goal) and
-- last_contacted_at drive suggestion-generation; calendar-sync updates
-- last_contacted_at from past events' attendees, matched by lowercased email.
CREATE TABLE contacts (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	resource_name TEXT NOT NULL,
	name TEXT,
	email TEXT,
	phone TEXT,
	etag TEXT,
	catchup_frequency_days INTEGER CHECK (catchup_frequency_days > 0),
	last_contacted_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (user_id, resource_name)
);
CREATE INDEX contacts_user_email ON contacts (user_id, email);
CREATE INDEX contacts_user_frequency ON contacts (user_id, catchup_frequency_days);

-- calendar_events: the user's Google Calendar events, upserted and deleted
-- by calendar-sync. start_at/end_at are Unix seconds (all-day events: local
-- midnight to midnight); attendee_emails is a JSON array of lowercased
-- addresses. Free-slot search reads events overlapping the next 7 days.
CREATE TABLE calendar_events (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	calendar_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	summary TEXT,
	start_at BIGINT NOT NULL,
	end_at BIGINT NOT NULL,
	all_day INTEGER NOT NULL DEFAULT 0,
	status TEXT NOT NULL DEFAULT 'confirmed',
	attendee_emails TEXT NOT NULL DEFAULT '[]',
	etag TEXT,
	google_updated_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (user_id, calendar_id, event_id)
);
CREATE INDEX calendar_events_user_start ON calendar_events (user_id, start_at);

-- sync_state: per user and kind, the incremental-sync cursor and the
-- adaptive schedule. kind is 'contacts' or 'calendar:' || calendarId (e.g.
-- 'calendar:primary'). adaptive-sync turns recent change counts into
-- interval_seconds (bounded 15 min - 24 h) and enqueues syncs whose
-- next_sync_at has passed.
CREATE TABLE sync_state (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	sync_token TEXT,
	last_sync_at BIGINT,
	last_full_sync_at BIGINT,
	last_change_count INTEGER NOT NULL DEFAULT 0,
	change_count_avg DOUBLE PRECISION NOT NULL DEFAULT 0,
	interval_seconds INTEGER NOT NULL DEFAULT 3600
		CHECK (interval_seconds BETWEEN 900 AND 86400),
	next_sync_at BIGINT,
	last_error TEXT,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, kind)
);
CREATE INDEX sync_state_next ON sync_state (next_sync_at);

-- suggestions: a proposed catch-up with a contact in a free slot. Open
-- suggestions are 'pending' or 'accepted'; at most one per contact (the
-- partial unique index), so concurrent suggestion-generation runs cannot
-- double up. batch-notifications sends pending ones with notified_at NULL;
-- notification-reminder reminds accepted ones starting within the hour
-- (reminded_at once); suggestion-regeneration moves or expires them.
CREATE TABLE suggestions (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
	slot_start BIGINT NOT NULL,
	slot_end BIGINT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'accepted', 'dismissed', 'expired', 'completed')),
	reason TEXT,
	notified_at BIGINT,
	accepted_at BIGINT,
	reminded_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX suggestions_user_status ON suggestions (user_id, status);
CREATE INDEX suggestions_status_slot ON suggestions (status, slot_start);
CREATE UNIQUE INDEX suggestions_one_open_per_contact ON suggestions (contact_id)
	WHERE status IN ('pending', 'accepted');

-- outbox: every side effect that must happen at most once (an SMS, an
-- e-mail, a watch channel created or stopped). The row is written with its
-- unique key before the call and marked after it, so a retried job finds
-- the key and does not repeat the effect. Keys name the effect, e.g.
-- 'batch:{userId}:{hash of suggestion ids}' or 'reminder:{suggestionId}'.
CREATE TABLE outbox (
	id TEXT PRIMARY KEY,
	dedupe_key TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	user_id TEXT,
	payload TEXT,
	status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	provider_id TEXT,
	last_error TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	sent_at BIGINT
);
CREATE INDEX outbox_status_created ON outbox (status, created_at);
CREATE INDEX outbox_user_kind_created ON outbox (user_id, kind, created_at);

-- webhook_channels: Google Calendar events.watch channels. id is the
-- channel id we chose (X-Goog-Channel-ID); token_hash is the hex SHA-256 of
-- the channel token (X-Goog-Channel-Token), compared in constant time;
-- resource_id is Google's, needed by channels.stop. expiration is Unix
-- seconds. webhook-renewal replaces channels expiring within 24 h;
-- webhook-health-check finds accounts without a live channel and channels
-- silent for over 24 h (last_notification_at).
CREATE TABLE webhook_channels (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	calendar_id TEXT NOT NULL,
	resource_id TEXT,
	token_hash TEXT NOT NULL,
	expiration BIGINT NOT NULL,
	status TEXT NOT NULL DEFAULT 'active'
		CHECK (status IN ('active', 'stopping', 'stopped', 'expired')),
	last_notification_at BIGINT,
	last_message_number BIGINT,
	silent_flagged_at BIGINT,
	replaced_by TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_channels_status_expiration ON webhook_channels (status, expiration);
CREATE INDEX webhook_channels_user_calendar ON webhook_channels (user_id, calendar_id, status);

-- dead_letters: tasks that failed for good (SPEC §9, §5.3). payload is the
-- task's JSON object, or NULL when the body was not a usable payload;
-- task_name is the short Cloud Tasks task id; attempts is RetryCount + 1.
-- Listed newest first by (failed_at, id) with keyset pagination.
CREATE TABLE dead_letters (
	id TEXT PRIMARY KEY,
	type TEXT NOT NULL,
	queue TEXT,
	task_name TEXT,
	payload TEXT,
	attempts INTEGER NOT NULL,
	last_error TEXT,
	failed_at BIGINT NOT NULL,
	replayed_at BIGINT,
	replay_task TEXT
);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at DESC, id DESC);
CREATE INDEX dead_letters_type_failed ON dead_letters (type, failed_at DESC, id DESC);

-- tasks: the local-mode Cloud Tasks emulator's queue (SPEC §5.4). name is
-- the full task name (projects/P/locations/L/queues/Q/tasks/T). Times here
-- are Unix seconds with fraction (DOUBLE PRECISION), as the Cloud Tasks API
-- reports them. headers is a JSON object, body_b64 the request body in
-- base64 as the REST API carries it; first_attempt/last_attempt are the
-- API's Attempt objects as JSON. state: 'queued' waits for schedule_time,
-- 'running' is leased to a dispatcher until lease_until, 'done' (answered
-- 2xx or attempts exhausted; completed_at) and 'deleted' (deleted_at) keep
-- the name reserved for one hour, as Cloud Tasks does.
CREATE TABLE tasks (
	name TEXT PRIMARY KEY,
	queue TEXT NOT NULL,
	task_id TEXT NOT NULL,
	url TEXT NOT NULL,
	http_method TEXT NOT NULL DEFAULT 'POST',
	headers TEXT NOT NULL DEFAULT '{}',
	body_b64 TEXT,
	oidc_service_account TEXT,
	oidc_audience TEXT,
	schedule_time DOUBLE PRECISION NOT NULL,
	created_at DOUBLE PRECISION NOT NULL,
	dispatch_deadline DOUBLE PRECISION NOT NULL DEFAULT 600,
	dispatch_count INTEGER NOT NULL DEFAULT 0,
	response_count INTEGER NOT NULL DEFAULT 0,
	first_attempt TEXT,
	last_attempt TEXT,
	last_response_code INTEGER,
	retry_reason TEXT,
	state TEXT NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'done', 'deleted')),
	lease_until DOUBLE PRECISION,
	completed_at DOUBLE PRECISION,
	deleted_at DOUBLE PRECISION
);
CREATE INDEX tasks_state_schedule ON tasks (state, schedule_time);
CREATE INDEX tasks_queue_state ON tasks (queue, state);
CREATE INDEX tasks_state_completed ON tasks (state, completed_at);
