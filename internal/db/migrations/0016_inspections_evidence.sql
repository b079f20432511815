-- Inspections as evidence (issue 10): what POST /inspections records beyond migration 0011, the
-- evidence check's verdict, a coordinator's overrule, re-checks (抽查回访), and the photos an
-- inspection cites.
--
-- inspections.evidence is the verdict's status (pending until the photos are processed and the
-- check ran; then verified, flagged or rejected; internal/evidence decides). Phone sync reads it.
-- evidence_flags keeps the codes of the findings that flag or reject, evidence_findings all of
-- them with values and thresholds. A coordinator's review makes a flagged inspection verified:
-- reviewed_codes are the flags the review overruled (they stay in the findings); a later re-run
-- that finds a flag not among them makes it flagged again.

ALTER TABLE inspections DROP CONSTRAINT inspections_evidence_check;
ALTER TABLE inspections ALTER COLUMN evidence SET DEFAULT 'pending';
UPDATE inspections SET evidence = CASE evidence WHEN 'ok' THEN 'verified' WHEN 'doubtful' THEN 'flagged' ELSE 'pending' END;
ALTER TABLE inspections ADD CONSTRAINT inspections_evidence_check
  CHECK (evidence IN ('pending', 'verified', 'flagged', 'rejected'));

ALTER TABLE inspections
  -- what the phone declared its position in (the point is stored converted to WGS-84)
  ADD COLUMN position_crs      text NOT NULL DEFAULT 'wgs84' CHECK (position_crs IN ('wgs84', 'gcj02')),
  -- SHA-256 of the request's canonical body: the same id with another body is a conflict
  ADD COLUMN request_hash      bytea CHECK (length(request_hash) = 32),
  ADD COLUMN evidence_findings jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN checked_at        timestamptz,
  ADD COLUMN reviewed_by       bigint REFERENCES users (id) ON DELETE SET NULL,
  ADD COLUMN reviewed_at       timestamptz,
  ADD COLUMN review_reason     text CHECK (length(review_reason) <= 2000),
  ADD COLUMN reviewed_codes    text[] NOT NULL DEFAULT '{}',
  -- a re-check is an inspection linked to the one it checks
  ADD COLUMN recheck_of        uuid REFERENCES inspections (id),
  -- the re-check that disagreed with this inspection (clear vs suspected, or not found)
  ADD COLUMN disputed_by       uuid REFERENCES inspections (id);
CREATE INDEX inspections_visited ON inspections (visited_at);
CREATE INDEX inspections_recheck_of ON inspections (recheck_of) WHERE recheck_of IS NOT NULL;

-- The photos an inspection cites, in the order sent. region_path is the inspection's (copied),
-- inspector_id too, for the policies.
CREATE TABLE inspection_media (
  inspection_id  uuid   NOT NULL REFERENCES inspections (id),
  media_id       bigint NOT NULL REFERENCES media (id),
  position       smallint NOT NULL,
  inspector_id   bigint NOT NULL REFERENCES users (id),
  region_path    ltree,
  PRIMARY KEY (inspection_id, media_id)
);
CREATE INDEX inspection_media_media ON inspection_media (media_id);
SELECT sieve_secure_table('inspection_media', 'region_path', 'scope');
SELECT sieve_audit_table('inspection_media');
CREATE TRIGGER inspection_media_region_path BEFORE INSERT OR UPDATE OF inspection_id ON inspection_media
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('inspection_id', 'inspections', 'region_path', 'region_path');
CREATE POLICY inspection_media_read_inspector ON inspection_media FOR SELECT USING (inspector_id = sieve_user_id());

-- The same bytes anywhere in the city (the reuse rule's reject): media_sha256 leads with the
-- uploader.
CREATE INDEX media_sha256_any ON media (sha256);

-- A coordinator's review (POST /inspections/{id}/review) is the one change a person makes to a
-- recorded inspection: the city office or the township's coordinator, in scope, and only the
-- review columns and the status they overrule (the trigger below refuses anything else).
CREATE POLICY inspections_review ON inspections FOR UPDATE
  USING (sieve_in_scope(region_path) AND sieve_role() IN ('city_admin', 'township_coordinator'))
  WITH CHECK (sieve_in_scope(region_path) AND sieve_role() IN ('city_admin', 'township_coordinator'));

CREATE FUNCTION inspections_review_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF sieve_system() THEN
    RETURN NEW;
  END IF;
  IF NEW.reviewed_by IS DISTINCT FROM sieve_user_id() OR NEW.evidence <> 'verified' OR OLD.evidence <> 'flagged'
     OR (to_jsonb(NEW) - ARRAY['evidence', 'reviewed_by', 'reviewed_at', 'review_reason', 'reviewed_codes'])
        IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['evidence', 'reviewed_by', 'reviewed_at', 'review_reason', 'reviewed_codes']) THEN
    RAISE EXCEPTION 'inspections: a person may only review a flagged inspection' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER inspections_review_only BEFORE UPDATE ON inspections
  FOR EACH ROW EXECUTE FUNCTION inspections_review_only();

-- A sequence for listing pages (the id is the phone's uuid).
ALTER TABLE inspections ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX inspections_seq ON inspections (seq);
