-- 0004_outbox.sql - the outbox as SPEC §5.3/§7 and src/outbox.c use it.
-- 0001's outbox was never written (no job sent anything before this), so it
-- is replaced rather than altered (SQLite cannot change a CHECK in place).
--
-- outbox: every side effect that must happen at most once (an SMS, an
-- e-mail). The row is inserted with its unique key in state 'sending'
-- BEFORE the provider call and moved to 'sent' (with the provider's id) or
-- 'failed' (with the provider's code) after it, each move one conditional
-- UPDATE on the state it leaves. A retried job finds the key and does not
-- call again. A row left 'sending' (a crash, or an answer lost after the
-- provider may have accepted it) is never sent again by a job: an
-- operator resends it or marks it done (/admin/outbox).
DROP TABLE outbox;
CREATE TABLE outbox (
	id TEXT PRIMARY KEY,
	dedupe_key TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	user_id TEXT,
	channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
	recipient TEXT NOT NULL,
	subject TEXT,
	body TEXT NOT NULL,
	state TEXT NOT NULL DEFAULT 'sending' CHECK (state IN ('sending', 'sent', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 1,
	provider_id TEXT,
	error TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	sent_at BIGINT
);
CREATE INDEX outbox_state_id ON outbox (state, id);
CREATE INDEX outbox_user_kind_created ON outbox (user_id, kind, created_at);
