-- 0006_webhook_channels.sql - Calendar watch channels with the lifecycle
-- the webhook jobs need, and what adaptive-sync reads from a sync.
-- 0001's webhook_channels was never written (no job made channels before
-- this), so it is replaced rather than altered.
--
-- webhook_channels: one events.watch channel per row. id is the channel id
-- we chose (X-Goog-Channel-ID, a UUID); token_hash the hex SHA-256 of the
-- channel token (X-Goog-Channel-Token, 256 random bits), compared in
-- constant time; resource_id Google's id of the watched calendar (the same
-- for every channel on it), needed by channels.stop; expiration Unix
-- seconds. States:
--   pending   written before events.watch is called, with the job key that
--             wrote it (op_key): a crash after Google made the channel
--             leaves a row that names it, so it is stopped, never leaked
--   active    Google confirmed it; its pushes are accepted until expiration
--   stopping  to be stopped with channels.stop (written before the call)
--   stopped   channels.stop succeeded or Google no longer knew it
--   expired   it ran out without being stopped
-- Active rows before their expiration accept pushes, and pending ones (a
-- channel's first message can arrive before the watch answer is stored; its
-- token proves it ours); stopping, stopped and expired ones get 404.
-- last_message_number
-- is X-Goog-Message-Number of the newest push (older ones are ignored);
-- sync_bucket the newest 30-second bucket (floor(unix/30)) whose
-- calendar-sync a push enqueued, so a flood of pushes makes one create per
-- bucket. replaced_by names the channel a renewal made in this one's place.
DROP TABLE webhook_channels;
CREATE TABLE webhook_channels (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	calendar_id TEXT NOT NULL,
	resource_id TEXT,
	token_hash TEXT NOT NULL,
	expiration BIGINT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'active', 'stopping', 'stopped', 'expired')),
	op_key TEXT,
	last_notification_at BIGINT,
	last_message_number BIGINT,
	sync_bucket BIGINT,
	silent_flagged_at BIGINT,
	replaced_by TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_channels_status_expiration ON webhook_channels (status, expiration);
CREATE INDEX webhook_channels_user_calendar ON webhook_channels (user_id, calendar_id, status);

-- sync_state.last_changed_at: when a sync last found changes. Together with
-- a channel's last push it tells a silent channel (polling finds changes
-- that no push announced).
ALTER TABLE sync_state ADD COLUMN last_changed_at BIGINT;
