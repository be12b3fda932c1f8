-- 0003_google_sync.sql - what the Google data jobs need beyond 0001.
--
-- google_accounts.refresh_lock_until: Unix seconds until which one run owns
-- the refresh of this account's access token (src/user_tokens.c); NULL or
-- past: nobody. A run that dies mid-refresh holds it at most 30 s.
-- google_accounts.status keeps the web app's values; 'active' is what the
-- API and the CLI call "ok".
ALTER TABLE google_accounts ADD COLUMN refresh_lock_until BIGINT;

-- contacts.sync_run / calendar_events.sync_run: the job key of the full
-- sync that last saw the row. A full sync ends by deleting the user's rows
-- it did not see (Google no longer has them).
ALTER TABLE contacts ADD COLUMN sync_run TEXT;
ALTER TABLE calendar_events ADD COLUMN sync_run TEXT;

-- Attendees are matched to contacts by e-mail, case-insensitively.
CREATE INDEX contacts_user_email_lower ON contacts (user_id, LOWER(email));

-- One user per e-mail address, whatever its case (`user add` exits 3 on a
-- second one).
CREATE UNIQUE INDEX users_email_lower ON users (LOWER(email));
