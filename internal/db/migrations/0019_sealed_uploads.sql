-- Sealed uploads (issue 16: stored evidence is immutable).
--
-- Completing a presigned upload now copies its bytes to a key that no URL ever named and
-- deletes the staging object its URLs name (internal/media/integrity.go). Those URLs stay
-- valid until the session's time ends, so a PUT through one after completion recreates a
-- staging object that nothing refers to. Once a finished session's time has ended (its URLs
-- are dead), the upload cleanup removes its staging object one last time and notes it here, so
-- that each session is cleared once.
ALTER TABLE upload_sessions ADD COLUMN staging_cleared_at timestamptz;

CREATE INDEX upload_sessions_staging_uncleared ON upload_sessions (expires_at)
  WHERE status IN ('completed', 'rejected') AND staging_cleared_at IS NULL;
