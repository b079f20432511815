-- Public tips (群众举报) and their rewards (举报奖励): issue 14.
--
-- A tip is posted without login (internal/tips, acting as the system): a description, a place
-- (a point, placed in its cell by sieve_locate like tasks and sites, or only a free-text
-- address), optional photos (tip_photos: originals in MinIO, checked like every upload) and an
-- optional name and phone (tip_contacts). The reporter gets a random tracking code; only its
-- SHA-256 is stored (code_hash, unique: the public status call is one indexed lookup).
--
-- Who sees what:
--   tips          the kit's policies by region_path: the township's coordinators see the tips
--                 placed in their area; a tip with no point (an address only) has no path and
--                 is seen by the city office until someone places it. Writes in one's area.
--   tip_events    the workflow's history (internal/tips transitions.go), visible with the tip.
--   tip_photos    visible with the tip; written by the system (the public intake).
--   tip_contacts  the reporter's name and phone, kept apart: read only by the roles that handle
--                 rewards (sieve_tip_contacts_reader(): the city office, accounts.PermReadTipContacts
--                 in Go; TestTipContactReaders holds the two together), written by the system.
--                 Its rows carry no region path, so their audit entries are the city's alone.
CREATE TABLE tips (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code_hash               bytea  NOT NULL UNIQUE CHECK (length(code_hash) = 32),
  status                  text   NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'valid', 'invalid',
                            'duplicate', 'reward_proposed', 'reward_approved', 'reward_rejected', 'reward_paid')),
  description             text   NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
  address                 text   NOT NULL DEFAULT '' CHECK (length(address) <= 300),
  point                   geometry(Point, 4326),
  crs                     text   NOT NULL DEFAULT 'wgs84' CHECK (crs IN ('wgs84', 'gcj02', 'cgcs2000')),
  cell_id                 bigint,  -- derived from point, like premises.cell_id (no foreign key, see 0005)
  region_path             ltree,
  suggested_duplicate_of  bigint REFERENCES tips (id),
  duplicate_of            bigint REFERENCES tips (id),
  site_id                 bigint REFERENCES sites (id),
  public_note             text   NOT NULL DEFAULT '' CHECK (length(public_note) <= 500),
  reason                  text   NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
  fine_fen                bigint CHECK (fine_fen >= 0),
  reward_fen              bigint CHECK (reward_fen >= 0),
  payment_ref             text   NOT NULL DEFAULT '' CHECK (length(payment_ref) <= 100),
  has_contact             boolean NOT NULL DEFAULT false,
  photos                  int    NOT NULL DEFAULT 0 CHECK (photos >= 0),
  status_at               timestamptz NOT NULL DEFAULT now(),
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CHECK (point IS NOT NULL OR address <> ''),
  CHECK (status <> 'duplicate' OR duplicate_of IS NOT NULL)
);
CREATE INDEX tips_point ON tips USING gist (point);
CREATE INDEX tips_cell ON tips (cell_id, status);
CREATE INDEX tips_region_path ON tips USING gist (region_path);
CREATE INDEX tips_created ON tips (created_at);

CREATE FUNCTION tips_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.point IS NULL THEN
    NEW.cell_id := NULL;
    NEW.region_path := NULL;
  ELSE
    SELECT l.cell_id, l.path INTO NEW.cell_id, NEW.region_path FROM sieve_locate(NEW.point) l;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER tips_place BEFORE INSERT OR UPDATE OF point ON tips
  FOR EACH ROW EXECUTE FUNCTION tips_place();

SELECT sieve_secure_table('tips', 'region_path', 'scope');
SELECT sieve_audit_table('tips');
-- A tip is posted by the public (the intake acts as the system) and never deleted.
CREATE POLICY tips_intake ON tips AS RESTRICTIVE FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY tips_keep ON tips AS RESTRICTIVE FOR DELETE USING (sieve_system());

-- place_tips_in_region places again the tips of a region whose cells changed (the tips placer,
-- internal/tips): those whose point lies in the region or whose path lies under it. It returns
-- how many moved.
CREATE FUNCTION place_tips_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT t.id, l.cell_id, l.path
    FROM tips t CROSS JOIN area CROSS JOIN LATERAL sieve_locate(t.point) l
    WHERE t.point IS NOT NULL AND (t.region_path <@ area.path OR ST_Intersects(area.geom, t.point)))
  UPDATE tips t SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
  FROM placed
  WHERE t.id = placed.id
    AND (t.cell_id IS DISTINCT FROM placed.cell_id OR t.region_path IS DISTINCT FROM placed.path);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE TABLE tip_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tip_id       bigint NOT NULL REFERENCES tips (id),
  from_status  text,
  to_status    text   NOT NULL,
  reason       text   NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
  detail       jsonb  NOT NULL DEFAULT '{}',
  by_user      bigint REFERENCES users (id),
  actor        text   NOT NULL DEFAULT '',
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tip_events_tip ON tip_events (tip_id, id);

CREATE TABLE tip_photos (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tip_id      bigint NOT NULL REFERENCES tips (id),
  object_key  text   NOT NULL UNIQUE,
  sha256      bytea  NOT NULL CHECK (length(sha256) = 32),
  size        bigint NOT NULL CHECK (size > 0),
  format      text   NOT NULL,
  width       int    NOT NULL,
  height      int    NOT NULL,
  exif_point  geometry(Point, 4326),
  taken_at    timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tip_photos_tip ON tip_photos (tip_id, id);

CREATE TABLE tip_contacts (
  tip_id      bigint PRIMARY KEY REFERENCES tips (id),
  name        text NOT NULL DEFAULT '' CHECK (length(name) <= 50),
  phone       text NOT NULL DEFAULT '' CHECK (length(phone) <= 30),
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (name <> '' OR phone <> '')
);

-- The child tables are visible exactly when their tip is (tips' own policies apply inside).
CREATE FUNCTION sieve_tip_visible(tip bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM tips t WHERE t.id = tip AND sieve_in_scope(t.region_path))
$$;
-- Who may read reporters' contact details: the mirror of accounts.PermReadTipContacts (the
-- grants table in internal/accounts/roles.go), checked against it by TestTipContactReaders.
CREATE FUNCTION sieve_tip_contacts_reader() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT sieve_system() OR coalesce(sieve_role() IN ('city_admin'), false)
$$;

ALTER TABLE tip_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tip_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tip_events_read ON tip_events FOR SELECT USING (sieve_tip_visible(tip_id));
CREATE POLICY tip_events_insert ON tip_events FOR INSERT WITH CHECK (sieve_tip_visible(tip_id));

ALTER TABLE tip_photos ENABLE ROW LEVEL SECURITY;
ALTER TABLE tip_photos FORCE ROW LEVEL SECURITY;
CREATE POLICY tip_photos_read ON tip_photos FOR SELECT USING (sieve_tip_visible(tip_id));
CREATE POLICY tip_photos_insert ON tip_photos FOR INSERT WITH CHECK (sieve_system());

ALTER TABLE tip_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE tip_contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tip_contacts_read ON tip_contacts FOR SELECT
  USING (sieve_tip_contacts_reader() AND sieve_tip_visible(tip_id));
CREATE POLICY tip_contacts_insert ON tip_contacts FOR INSERT WITH CHECK (sieve_system());

SELECT sieve_audit_table(tbl)
FROM unnest(ARRAY['tip_events', 'tip_photos', 'tip_contacts']::regclass[]) AS tbl;
