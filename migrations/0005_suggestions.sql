-- 0005_suggestions.sql - suggestions with the states of SPEC §5.3:
-- pending (stored, not told yet), notified (sent in a batch), accepted,
-- expired, dismissed. 0001's table was never written (no job made
-- suggestions before this), so it is replaced rather than altered.
--
-- suggestions: a proposed catch-up with a contact in a free 30-minute slot.
-- A suggestion is open while it is pending or notified and its slot has not
-- started, or accepted and its slot has not ended. At most one pending or
-- notified row per contact (the partial unique index) backs up
-- suggestion-generation, which also skips contacts with an accepted one to
-- come and, holding the user's row lock, first expires the started pending
-- and notified rows and credits ended accepted ones as a last contact (an
-- accepted row stays as the record of the meeting). Every state change is
-- one conditional UPDATE on the states it may leave (src/suggestions.c).
DROP TABLE suggestions;
CREATE TABLE suggestions (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
	slot_start BIGINT NOT NULL,
	slot_end BIGINT NOT NULL,
	state TEXT NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'notified', 'accepted', 'expired', 'dismissed')),
	reason TEXT,
	notified_at BIGINT,
	accepted_at BIGINT,
	reminded_at BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX suggestions_user_state ON suggestions (user_id, state, id);
CREATE INDEX suggestions_state_slot ON suggestions (state, slot_start);
CREATE UNIQUE INDEX suggestions_one_open_per_contact ON suggestions (contact_id)
	WHERE state IN ('pending', 'notified');
