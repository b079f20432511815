-- Leads from data (大数据线索): issue 14.
--
-- A lead is one record of a data source (a market entity 市场主体, a power user 电力用户, a stay
-- point of hazardous-chemical vehicles 危化品车辆停留点, ...) that looks like a workshop. It lies
-- at a point (its own, or its matched premise's) and so in a grid cell, computed by sieve_locate
-- like a task's or a site's (never typed), placed again by the leads placer when cells change
-- (place_leads_in_region). An open lead is a task (internal/tasks, kind lead) for the cell's
-- grid worker; its outcome is confirmed (a site, site_id) or cleared with a reason. A lead
-- found where an open lead or an open site already is, is kept as a duplicate (no task).
--
-- kind + source_key identify the source record: importing it again adds nothing. lead_imports
-- keeps each imported file by its SHA-256, so the same file again is answered at once.

CREATE TABLE lead_imports (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text   NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
  file_name    text   NOT NULL DEFAULT '' CHECK (length(file_name) <= 300),
  sha256       text   NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  encoding     text   NOT NULL DEFAULT '' CHECK (length(encoding) <= 20),
  received     integer NOT NULL DEFAULT 0,  -- data rows read
  created      integer NOT NULL DEFAULT 0,  -- open leads made (each with its task)
  duplicates   integer NOT NULL DEFAULT 0,  -- leads at the place of an open lead or site
  known        integer NOT NULL DEFAULT 0,  -- source records imported before
  refused      integer NOT NULL DEFAULT 0,  -- rows refused, each reported by line
  below        integer NOT NULL DEFAULT 0,  -- candidates under the score threshold
  created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  -- The importer's area, set by the INSERT (internal/leads): the caller's scope, NULL for the
  -- city office and tools.
  region_path  ltree,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, sha256)
);
SELECT sieve_secure_table('lead_imports', 'region_path', 'scope');
SELECT sieve_audit_table('lead_imports');

CREATE TABLE leads (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind          text   NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,39}$'),
  source_key    text   NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
  import_id     bigint REFERENCES lead_imports (id) ON DELETE SET NULL,
  -- open 待核查, confirmed 属实 (a site), cleared 排除 (with a reason), duplicate 重复.
  status        text   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'cleared', 'duplicate')),
  name          text   NOT NULL DEFAULT '' CHECK (length(name) <= 200),
  address       text   NOT NULL DEFAULT '' CHECK (length(address) <= 300),
  point         geometry(Point, 4326) NOT NULL,
  premise_id    bigint REFERENCES premises (id) ON DELETE SET NULL,
  cell_id       bigint,  -- derived from point, like premises.cell_id (no foreign key, see 0005)
  region_path   ltree,
  score         real   NOT NULL CHECK (score >= 0 AND score <= 1),
  reasons       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(reasons) <= 20),
  detail        jsonb  NOT NULL DEFAULT '{}',
  duplicate_of  bigint REFERENCES leads (id) ON DELETE SET NULL,  -- the open lead of the place
  dup_site_id   bigint REFERENCES sites (id) ON DELETE SET NULL,  -- or the open site of the place
  site_id       bigint REFERENCES sites (id) ON DELETE SET NULL,  -- confirmed: the site it became
  task_id       bigint REFERENCES tasks (id) ON DELETE SET NULL,
  due_at        timestamptz,                                      -- verify by
  outcome_reason text  NOT NULL DEFAULT '' CHECK (length(outcome_reason) <= 500),
  outcome_ref   text   NOT NULL DEFAULT '' CHECK (length(outcome_ref) <= 100), -- the inspection that decided it
  outcome_by    bigint REFERENCES users (id) ON DELETE SET NULL,
  outcome_at    timestamptz,
  created_by    bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, source_key),
  CHECK ((status IN ('confirmed', 'cleared')) = (outcome_at IS NOT NULL)),
  CHECK (status <> 'confirmed' OR site_id IS NOT NULL),
  CHECK (status <> 'cleared' OR outcome_reason <> '')
);
CREATE INDEX leads_point ON leads USING gist (point);
CREATE INDEX leads_cell ON leads (cell_id, status);
CREATE INDEX leads_region_path ON leads USING gist (region_path);
CREATE INDEX leads_premise ON leads (premise_id) WHERE premise_id IS NOT NULL;
CREATE INDEX leads_kind_status ON leads (kind, status);

-- sieve_cells_near: the grid cells within metres of pt, found in region_shapes (whose GiST index
-- works under row-level security). A "near this point" filter on a table with policies cannot
-- use its spatial index (PostGIS operators are not leakproof); filtering first by
-- cell_id = ANY (sieve_cells_near(...)) (bigint equality is leakproof, so the table's cell index
-- works) and then by the exact distance can. The degree radius is the longitude's at pt's
-- latitude, the larger of the two, so no cell within metres is missed.
CREATE FUNCTION sieve_cells_near(pt geometry, metres float8) RETURNS bigint[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(s.region_id), '{}') FROM region_shapes s
  WHERE s.level = 'cell' AND ST_DWithin(s.geom, pt, metres / (111320.0 * cos(radians(ST_Y(pt)))))
$$;

-- leads_place: a lead's cell and path from its point, the one rule (sieve_locate, 0025).
CREATE FUNCTION leads_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT l.cell_id, l.path INTO NEW.cell_id, NEW.region_path FROM sieve_locate(NEW.point) l;
  RETURN NEW;
END $$;
CREATE TRIGGER leads_place BEFORE INSERT OR UPDATE OF point ON leads
  FOR EACH ROW EXECUTE FUNCTION leads_place();

SELECT sieve_secure_table('leads', 'region_path', 'scope');
SELECT sieve_audit_table('leads');
-- A lead is a record of what a source said: nobody but the system deletes one.
CREATE POLICY leads_keep ON leads AS RESTRICTIVE FOR DELETE USING (sieve_system());

-- place_leads_in_region places again the leads of a region whose cells changed (the leads
-- placer, internal/leads): those whose point lies in the region or whose path lies under it.
-- It returns how many moved.
CREATE FUNCTION place_leads_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT d.id, l.cell_id, l.path
    FROM leads d CROSS JOIN area CROSS JOIN LATERAL sieve_locate(d.point) l
    WHERE d.region_path <@ area.path OR ST_Intersects(area.geom, d.point))
  UPDATE leads d SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
  FROM placed
  WHERE d.id = placed.id
    AND (d.cell_id IS DISTINCT FROM placed.cell_id OR d.region_path IS DISTINCT FROM placed.path);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
