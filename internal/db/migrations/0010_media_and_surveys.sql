-- Media (照片与航拍影像), drone surveys (无人机航测) and upload sessions.
--
-- A medium is one stored original in the media bucket: a phone photo (kind 'photo') or a drone
-- survey image (kind 'drone'). Its bytes are never stored twice: (uploaded_by, sha256) and
-- (uploaded_by, idempotency_key) are unique, so a retried or repeated upload finds the first
-- record. Background jobs (River, see internal/media) fill in the metadata, the placement (point,
-- ground footprint, the grid cells in media_cells), the perceptual hash and the thumbnails.
--
-- Scope: media.region_path is the area of the upload's context (the survey's region, or the
-- uploader's region) and never moves. A medium is also visible in every cell it lands in
-- (media_cells.cell_path), and always to its uploader.

-- Drone surveys: one flight (or one SD card) over a region.
CREATE TABLE surveys (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region_id    bigint NOT NULL REFERENCES regions (id),
  region_path  ltree  NOT NULL,
  operator_id  bigint NOT NULL REFERENCES users (id),
  name         text   NOT NULL DEFAULT '' CHECK (length(name) <= 200),
  flight_date  date   NOT NULL,
  drone        text   NOT NULL DEFAULT '' CHECK (length(drone) <= 100),
  camera       text   NOT NULL DEFAULT '' CHECK (length(camera) <= 100),
  created_by   bigint REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX surveys_region_path ON surveys USING gist (region_path);
CREATE INDEX surveys_operator ON surveys (operator_id);

-- surveys_set_region_path copies the region's path (read under the caller's policies: a region
-- the caller cannot see leaves it NULL, which the NOT NULL constraint refuses).
CREATE FUNCTION surveys_set_region_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT path INTO NEW.region_path FROM regions WHERE id = NEW.region_id;
  RETURN NEW;
END $$;
CREATE TRIGGER surveys_region_path BEFORE INSERT OR UPDATE OF region_id ON surveys
  FOR EACH ROW EXECUTE FUNCTION surveys_set_region_path();

CREATE TABLE media (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             text   NOT NULL CHECK (kind IN ('photo', 'drone')),
  survey_id        bigint REFERENCES surveys (id),
  uploaded_by      bigint NOT NULL REFERENCES users (id),
  region_path      ltree,
  idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  sha256           bytea  NOT NULL CHECK (length(sha256) = 32),
  size             bigint NOT NULL CHECK (size > 0),
  format           text   NOT NULL,                 -- imagery.Format: jpeg, png, heic, webp, tiff
  content_type     text   NOT NULL,
  original_name    text   NOT NULL DEFAULT '' CHECK (length(original_name) <= 255),
  object_key       text   NOT NULL UNIQUE,          -- in the media bucket
  width            integer,                         -- stored pixels, before orientation
  height           integer,
  -- received: stored, jobs pending; processed: jobs done; failed: a job gave up (error says why).
  status           text   NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'failed')),
  error_code       text   NOT NULL DEFAULT '',
  error            text   NOT NULL DEFAULT '',
  no_thumbnail     boolean NOT NULL DEFAULT false,  -- a valid image we cannot decode (HEIC)
  metadata         jsonb,                           -- imagery.Metadata
  taken_at         timestamptz,
  point            geometry(Point, 4326),
  altitude_rel     double precision,
  footprint        geometry(Polygon, 4326),         -- drone images: ground footprint
  phash            bigint,                          -- imagery.PerceptualHash, as signed 64 bits
  thumbs           jsonb,                           -- {"list": {"key","width","height","etag"}, ...}
  metadata_at      timestamptz,                     -- metadata and placement job done
  thumbs_at        timestamptz,                     -- thumbnail and pHash job done
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'drone') = (survey_id IS NOT NULL))
);
CREATE UNIQUE INDEX media_sha256 ON media (uploaded_by, sha256);
CREATE UNIQUE INDEX media_idempotency ON media (uploaded_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX media_survey ON media (survey_id, id) WHERE survey_id IS NOT NULL;
CREATE INDEX media_region_path ON media USING gist (region_path);
CREATE INDEX media_point ON media USING gist (point);
CREATE INDEX media_footprint ON media USING gist (footprint);
CREATE INDEX media_phash ON media (phash) WHERE phash IS NOT NULL;

-- The grid cells (regions of level 'cell') a medium lands in: by its point, or by its footprint.
-- media_region_path and uploaded_by are copies from media for the policies (a policy on
-- media_cells that read media, whose policy reads media_cells, would recurse).
CREATE TABLE media_cells (
  media_id           bigint NOT NULL REFERENCES media (id) ON DELETE CASCADE,
  cell_id            bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  cell_path          ltree  NOT NULL,
  media_region_path  ltree,
  uploaded_by        bigint NOT NULL,
  how                text   NOT NULL CHECK (how IN ('point', 'footprint')),
  PRIMARY KEY (media_id, cell_id)
);
CREATE INDEX media_cells_cell ON media_cells (cell_id);
CREATE INDEX media_cells_path ON media_cells USING gist (cell_path);

-- Links from media to suspected sites (疑似点). Sites arrive with a later issue, so site_id has
-- no foreign key yet; link_media_to_sites fills this table (see below).
CREATE TABLE media_site_links (
  media_id     bigint NOT NULL REFERENCES media (id) ON DELETE CASCADE,
  site_id      bigint NOT NULL,
  how          text   NOT NULL CHECK (how IN ('footprint', 'near')),
  distance_m   double precision,
  region_path  ltree,  -- the medium's region_path
  site_path    ltree,  -- the site's region path
  linked_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (media_id, site_id)
);
CREATE INDEX media_site_links_site ON media_site_links (site_id);

-- Upload sessions: presigned uploads straight to MinIO, for survey images and for large photos
-- on bad networks. kind 'single' is one presigned PUT; 'multipart' an S3 multipart upload with a
-- presigned URL per part, resumable part by part. A pending session expires at expires_at and
-- the cleanup job then aborts its multipart upload, removes any object and marks it expired.
CREATE TABLE upload_sessions (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind           text   NOT NULL CHECK (kind IN ('single', 'multipart')),
  survey_id      bigint REFERENCES surveys (id),
  user_id        bigint NOT NULL REFERENCES users (id),
  region_path    ltree,
  file_name      text   NOT NULL DEFAULT '' CHECK (length(file_name) <= 255),
  size           bigint NOT NULL CHECK (size > 0),
  sha256         bytea  NOT NULL CHECK (length(sha256) = 32),
  object_key     text   NOT NULL UNIQUE,
  s3_upload_id   text,
  part_size      bigint NOT NULL,
  status         text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'rejected', 'expired')),
  reason_code    text   NOT NULL DEFAULT '',
  reason         text   NOT NULL DEFAULT '',
  media_id       bigint REFERENCES media (id) ON DELETE SET NULL,
  expires_at     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'multipart') = (s3_upload_id IS NOT NULL))
);
CREATE UNIQUE INDEX upload_sessions_pending ON upload_sessions (user_id, sha256) WHERE status = 'pending';
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at) WHERE status = 'pending';
CREATE INDEX upload_sessions_survey ON upload_sessions (survey_id, id) WHERE survey_id IS NOT NULL;
CREATE INDEX upload_sessions_region_path ON upload_sessions USING gist (region_path);

-- Objects being streamed by POST /media right now: written before the first byte goes to MinIO
-- and removed in the transaction that records the medium (or after a failure, with the object).
-- One left behind by a crash is swept, with its object, by the cleanup job after an hour.
CREATE TABLE upload_intents (
  object_key  text PRIMARY KEY,
  user_id     bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_intents_created ON upload_intents (created_at);

-- place_media computes the grid cells of the given media (all media when NULL) from their point
-- and footprint. It is re-runnable: run it again after cells are imported or regenerated.
CREATE FUNCTION place_media(media_ids bigint[] DEFAULT NULL) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  DELETE FROM media_cells WHERE media_ids IS NULL OR media_id = ANY (media_ids);
  INSERT INTO media_cells (media_id, cell_id, cell_path, media_region_path, uploaded_by, how)
  SELECT m.id, r.id, r.path, m.region_path, m.uploaded_by,
         CASE WHEN m.point IS NOT NULL AND ST_Intersects(r.geom, m.point) THEN 'point' ELSE 'footprint' END
  FROM media m
  JOIN regions r ON r.level = 'cell' AND r.geom IS NOT NULL
   AND ((m.point IS NOT NULL AND ST_Intersects(r.geom, m.point))
     OR (m.footprint IS NOT NULL AND ST_Intersects(r.geom, m.footprint)))
  WHERE media_ids IS NULL OR m.id = ANY (media_ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- link_media_to_sites links media to suspected sites: a drone image to every site its
-- footprint covers, a photo (or a drone image without footprint) to every site within near_m
-- metres of its point. media_ids NULL means all media, site_ids NULL all sites; it replaces the
-- links of the media and sites it looks at and returns how many links it made.
--
-- Run it for new media (the placement job does, with media_ids = {id}), and when sites are
-- created or moved: SELECT link_media_to_sites(NULL, ARRAY[site_id]) links the images already
-- stored. Until the sites table exists it does nothing and returns 0. The contract it expects of
-- that table: sites(id bigint, geom geometry(Geometry, 4326), region_path ltree); the issue that
-- adds sites may CREATE OR REPLACE this function in a migration of its own if it differs.
CREATE FUNCTION link_media_to_sites(media_ids bigint[] DEFAULT NULL, site_ids bigint[] DEFAULT NULL,
                                    near_m double precision DEFAULT 50) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  IF to_regclass('sites') IS NULL THEN
    RETURN 0;
  END IF;
  DELETE FROM media_site_links
   WHERE (media_ids IS NULL OR media_id = ANY (media_ids)) AND (site_ids IS NULL OR site_id = ANY (site_ids));
  EXECUTE $q$
    INSERT INTO media_site_links (media_id, site_id, how, distance_m, region_path, site_path)
    SELECT m.id, s.id,
           CASE WHEN m.footprint IS NOT NULL THEN 'footprint' ELSE 'near' END,
           CASE WHEN m.point IS NOT NULL THEN ST_Distance(m.point::geography, s.geom::geography) END,
           m.region_path, s.region_path
    FROM media m JOIN sites s
      ON (m.footprint IS NOT NULL AND ST_Intersects(m.footprint, s.geom))
      OR (m.footprint IS NULL AND m.point IS NOT NULL AND ST_DWithin(m.point::geography, s.geom::geography, $3))
    WHERE ($1::bigint[] IS NULL OR m.id = ANY ($1)) AND ($2::bigint[] IS NULL OR s.id = ANY ($2))
    ON CONFLICT DO NOTHING $q$ USING media_ids, site_ids, near_m;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE TRIGGER surveys_audit AFTER INSERT OR UPDATE OR DELETE ON surveys
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER media_audit AFTER INSERT OR UPDATE OR DELETE ON media
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER media_site_links_audit AFTER INSERT OR UPDATE OR DELETE ON media_site_links
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER upload_sessions_audit AFTER INSERT OR UPDATE OR DELETE ON upload_sessions
  FOR EACH ROW EXECUTE FUNCTION audit_row();

-- Row-level security, as in 0002.
ALTER TABLE surveys ENABLE ROW LEVEL SECURITY;
ALTER TABLE surveys FORCE ROW LEVEL SECURITY;
CREATE POLICY surveys_read ON surveys FOR SELECT USING (sieve_in_scope(region_path));
CREATE POLICY surveys_insert ON surveys FOR INSERT WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY surveys_update ON surveys FOR UPDATE USING (sieve_in_scope(region_path)) WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY surveys_delete ON surveys FOR DELETE USING (sieve_in_scope(region_path));

ALTER TABLE media ENABLE ROW LEVEL SECURITY;
ALTER TABLE media FORCE ROW LEVEL SECURITY;
CREATE POLICY media_read ON media FOR SELECT
  USING (sieve_in_scope(region_path) OR uploaded_by = sieve_user_id()
         OR EXISTS (SELECT 1 FROM media_cells mc WHERE mc.media_id = media.id AND sieve_in_scope(mc.cell_path)));
-- The uploader records their own media, in their area or (a grid worker, scoped to cells) in
-- their own region.
CREATE POLICY media_insert ON media FOR INSERT
  WITH CHECK (sieve_system() OR (uploaded_by = sieve_user_id() AND (sieve_in_scope(region_path)
              OR region_path IS NOT DISTINCT FROM (SELECT u.region_path FROM users u WHERE u.id = sieve_user_id()))));
CREATE POLICY media_update ON media FOR UPDATE
  USING (sieve_in_scope(region_path)) WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY media_delete ON media FOR DELETE USING (sieve_in_scope(region_path));

ALTER TABLE media_cells ENABLE ROW LEVEL SECURITY;
ALTER TABLE media_cells FORCE ROW LEVEL SECURITY;
CREATE POLICY media_cells_read ON media_cells FOR SELECT
  USING (sieve_in_scope(cell_path) OR sieve_in_scope(media_region_path) OR uploaded_by = sieve_user_id());
CREATE POLICY media_cells_write ON media_cells FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY media_cells_delete ON media_cells FOR DELETE USING (sieve_system());

ALTER TABLE media_site_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE media_site_links FORCE ROW LEVEL SECURITY;
CREATE POLICY media_site_links_read ON media_site_links FOR SELECT
  USING (sieve_in_scope(region_path) OR sieve_in_scope(site_path));
CREATE POLICY media_site_links_write ON media_site_links FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY media_site_links_delete ON media_site_links FOR DELETE USING (sieve_system());

ALTER TABLE upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE upload_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY upload_sessions_read ON upload_sessions FOR SELECT
  USING (sieve_in_scope(region_path) OR user_id = sieve_user_id());
CREATE POLICY upload_sessions_insert ON upload_sessions FOR INSERT
  WITH CHECK (sieve_system() OR (user_id = sieve_user_id() AND (sieve_in_scope(region_path)
              OR region_path IS NOT DISTINCT FROM (SELECT u.region_path FROM users u WHERE u.id = sieve_user_id()))));
CREATE POLICY upload_sessions_update ON upload_sessions FOR UPDATE
  USING (sieve_in_scope(region_path) OR user_id = sieve_user_id())
  WITH CHECK (sieve_in_scope(region_path) OR user_id = sieve_user_id());
CREATE POLICY upload_sessions_delete ON upload_sessions FOR DELETE USING (sieve_system());

ALTER TABLE upload_intents ENABLE ROW LEVEL SECURITY;
ALTER TABLE upload_intents FORCE ROW LEVEL SECURITY;
CREATE POLICY upload_intents_own ON upload_intents
  USING (sieve_system() OR user_id = sieve_user_id()) WITH CHECK (sieve_system() OR user_id = sieve_user_id());
