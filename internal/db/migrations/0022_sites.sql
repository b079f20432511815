-- Suspected sites and their cases (疑似"小化工"点位及其处置): issue 11.
--
-- A site is a place suspected of illegal small chemical production. It lies at a point
-- (optionally with an outline), and so in a grid cell, computed from region_shapes like a
-- task's (never typed) and placed again by the sites placer when cells change
-- (place_sites_in_region). It came from an inspection, a drone image, a tip, a lead or was
-- entered by hand (source + source_ref), carries the situation classes of the seed (several may
-- apply), the firm's particulars (附件2's columns), its premise if there is one, and the people
-- who took part (工作参与人员). Its case moves through the one transition table of
-- internal/sites (transitions.go); every move is a row of site_events (who, when, why), and
-- the sites row itself is audited.
--
-- Child rows (events, actions, responsible persons, inspection links) are visible exactly when
-- their site is: their policies look the site up under the sites policies (a primary-key
-- lookup), so re-placing a site never leaves a stale path copy behind on them.

CREATE TABLE sites (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status        text   NOT NULL DEFAULT 'suspected' CHECK (status IN
                  ('suspected', 'verified_illegal', 'cleared', 'under_disposal', 'rectified', 'closed')),
  point         geometry(Point, 4326) NOT NULL,
  outline       geometry(Polygon, 4326),
  cell_id       bigint,  -- derived from point, like premises.cell_id (no foreign key, see 0005)
  region_path   ltree,
  -- inspection 排查发现, drone 航拍发现, tip 群众举报, lead 大数据线索, manual 人工录入.
  source        text   NOT NULL CHECK (source IN ('inspection', 'drone', 'tip', 'lead', 'manual')),
  source_ref    text   NOT NULL DEFAULT '' CHECK (length(source_ref) <= 100),
  -- The five situations, split as 附件2 splits its columns (the same words as inspections.findings).
  classes       text[] NOT NULL DEFAULT '{}' CHECK (classes <@ ARRAY['unlicensed', 'beyond_licence',
                  'non_chemical_producing', 'exited_producing', 'affiliated_leased', 'factory_in_factory', 'other']),
  firm_name     text   NOT NULL DEFAULT '' CHECK (length(firm_name) <= 200),
  address       text   NOT NULL DEFAULT '' CHECK (length(address) <= 300),
  industry      text   NOT NULL DEFAULT '' CHECK (length(industry) <= 100),   -- 所属行业
  legal_rep     text   NOT NULL DEFAULT '' CHECK (length(legal_rep) <= 100),  -- 法定代表人
  controller    text   NOT NULL DEFAULT '' CHECK (length(controller) <= 100), -- 实际控制人
  contact_phone text   NOT NULL DEFAULT '' CHECK (length(contact_phone) <= 30), -- 法人联系方式
  premise_id    bigint REFERENCES premises (id) ON DELETE SET NULL,
  participants  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(participants) <= 50), -- 工作参与人员
  note          text   NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
  status_at     timestamptz NOT NULL DEFAULT now(),
  closed_at     timestamptz,
  created_by    bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX sites_point ON sites USING gist (point);
CREATE INDEX sites_outline ON sites USING gist (outline) WHERE outline IS NOT NULL;
CREATE INDEX sites_cell ON sites (cell_id, status);
CREATE INDEX sites_region_path ON sites USING gist (region_path);
CREATE INDEX sites_premise ON sites (premise_id) WHERE premise_id IS NOT NULL;

-- sites_place: a site's cell and path from its point, through region_shapes (its GiST index
-- works under row-level security): the lowest-id cell holding the point, else the deepest
-- region, the same rule as premises and tasks.
CREATE FUNCTION sites_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.cell_id := NULL;
  NEW.region_path := NULL;
  SELECT c.region_id, c.path INTO NEW.cell_id, NEW.region_path
    FROM region_shapes c WHERE c.level = 'cell' AND ST_Intersects(c.geom, NEW.point)
    ORDER BY c.region_id LIMIT 1;
  IF NEW.cell_id IS NULL THEN
    SELECT a.path INTO NEW.region_path
      FROM region_shapes a WHERE a.level <> 'cell' AND ST_Intersects(a.geom, NEW.point)
      ORDER BY nlevel(a.path) DESC, a.region_id LIMIT 1;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER sites_place BEFORE INSERT OR UPDATE OF point ON sites
  FOR EACH ROW EXECUTE FUNCTION sites_place();

SELECT sieve_secure_table('sites', 'region_path', 'scope');
SELECT sieve_audit_table('sites');
-- A case is a record: nobody but the system deletes a site (a mistaken one is cleared).
CREATE POLICY sites_keep ON sites AS RESTRICTIVE FOR DELETE USING (sieve_system());

-- place_sites_in_region places again the sites of a region whose cells changed (the sites
-- placer, internal/sites): those whose point lies in the region or whose path lies under it.
-- The site path copied on media_site_links follows. It returns how many sites moved.
CREATE FUNCTION place_sites_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT s.id, c.region_id AS cell_id, coalesce(c.path, a.path) AS path
    FROM sites s CROSS JOIN area
    LEFT JOIN LATERAL (SELECT r.region_id, r.path FROM region_shapes r
      WHERE r.level = 'cell' AND ST_Intersects(r.geom, s.point) ORDER BY r.region_id LIMIT 1) c ON true
    LEFT JOIN LATERAL (SELECT r.path FROM region_shapes r
      WHERE c.region_id IS NULL AND r.level <> 'cell' AND ST_Intersects(r.geom, s.point)
      ORDER BY nlevel(r.path) DESC, r.region_id LIMIT 1) a ON true
    WHERE s.region_path <@ area.path OR ST_Intersects(area.geom, s.point)),
  moved AS (
    UPDATE sites s SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
    FROM placed
    WHERE s.id = placed.id
      AND (s.cell_id IS DISTINCT FROM placed.cell_id OR s.region_path IS DISTINCT FROM placed.path)
    RETURNING s.id, s.region_path),
  relinked AS (
    UPDATE media_site_links l SET site_path = moved.region_path FROM moved WHERE l.site_id = moved.id RETURNING 1)
  SELECT count(*) INTO n FROM moved;
  RETURN n;
END $$;

-- The case's history: one row per transition (who, when, why), append-only.
CREATE TABLE site_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site_id      bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  from_status  text,   -- NULL for the site's opening
  to_status    text   NOT NULL,
  reason       text   NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
  by_user      bigint REFERENCES users (id) ON DELETE SET NULL,
  by_actor     text   NOT NULL DEFAULT '',
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX site_events_site ON site_events (site_id, id);

-- Inspections that found the site or were linked to it as the same place (de-duplication).
CREATE TABLE site_inspections (
  site_id        bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  inspection_id  uuid   NOT NULL REFERENCES inspections (id),
  linked_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, inspection_id)
);
CREATE INDEX site_inspections_inspection ON site_inspections (inspection_id);

-- Disposal actions (分类处置): what was ordered, by which department, who answers for it, by
-- when, the evidence and the result. Overdue: deadline passed and not done.
CREATE TABLE site_actions (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site_id      bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  action       text   NOT NULL CHECK (action IN ('suspend_rectify', 'obtain_permits', 'verify_dismantled',
                 'suspend_production', 'dismantle_by_deadline', 'seal_up', 'stop_production', 'eliminate_hazards',
                 'fine', 'landlord_liability', 'judicial_transfer', 'public_accountability', 'credit_listing')),
  department   text   NOT NULL CHECK (department IN ('public_security', 'market_regulation', 'emergency_management',
                 'ecology_environment', 'transport', 'township')),
  responsible  text   NOT NULL CHECK (length(responsible) BETWEEN 1 AND 100),
  deadline     timestamptz NOT NULL,
  amount_yuan  numeric(14, 2) CHECK (amount_yuan >= 0),
  evidence     bigint[] NOT NULL DEFAULT '{}',  -- media ids
  result       text   NOT NULL DEFAULT '' CHECK (length(result) <= 2000),
  done_at      timestamptz,
  created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((action = 'fine') = (amount_yuan IS NOT NULL))
);
CREATE INDEX site_actions_site ON site_actions (site_id);
CREATE INDEX site_actions_open ON site_actions (deadline) WHERE done_at IS NULL;

-- Responsible persons (责任人): the people answerable for a site, for accountability and the
-- credit listing. No ID number is stored (see internal/sites: persons.go).
CREATE TABLE site_persons (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site_id     bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  role        text   NOT NULL CHECK (role IN ('legal_representative', 'actual_controller', 'landlord', 'other')),
  name        text   NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  phone       text   NOT NULL DEFAULT '' CHECK (length(phone) <= 30),
  note        text   NOT NULL DEFAULT '' CHECK (length(note) <= 500),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX site_persons_site ON site_persons (site_id);

-- The child tables' policies: visible and writable exactly when the site is (sites' own
-- policies apply inside the lookup). Events are append-only.
CREATE FUNCTION sieve_site_visible(site bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM sites s WHERE s.id = site AND sieve_in_scope(s.region_path))
$$;
ALTER TABLE site_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_events FORCE ROW LEVEL SECURITY;
CREATE POLICY site_events_read ON site_events FOR SELECT USING (sieve_site_visible(site_id));
CREATE POLICY site_events_insert ON site_events FOR INSERT WITH CHECK (sieve_site_visible(site_id));
ALTER TABLE site_inspections ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_inspections FORCE ROW LEVEL SECURITY;
CREATE POLICY site_inspections_read ON site_inspections FOR SELECT USING (sieve_site_visible(site_id));
CREATE POLICY site_inspections_insert ON site_inspections FOR INSERT WITH CHECK (sieve_site_visible(site_id));
ALTER TABLE site_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_actions FORCE ROW LEVEL SECURITY;
CREATE POLICY site_actions_read ON site_actions FOR SELECT USING (sieve_site_visible(site_id));
CREATE POLICY site_actions_insert ON site_actions FOR INSERT WITH CHECK (sieve_site_visible(site_id));
CREATE POLICY site_actions_update ON site_actions FOR UPDATE
  USING (sieve_site_visible(site_id)) WITH CHECK (sieve_site_visible(site_id));
ALTER TABLE site_persons ENABLE ROW LEVEL SECURITY;
ALTER TABLE site_persons FORCE ROW LEVEL SECURITY;
CREATE POLICY site_persons_read ON site_persons FOR SELECT USING (sieve_site_visible(site_id));
CREATE POLICY site_persons_insert ON site_persons FOR INSERT WITH CHECK (sieve_site_visible(site_id));
CREATE POLICY site_persons_update ON site_persons FOR UPDATE
  USING (sieve_site_visible(site_id)) WITH CHECK (sieve_site_visible(site_id));
CREATE POLICY site_persons_delete ON site_persons FOR DELETE USING (sieve_site_visible(site_id));
SELECT sieve_audit_table(tbl)
FROM unnest(ARRAY['site_events', 'site_inspections', 'site_actions', 'site_persons']::regclass[]) AS tbl;

-- Media links: the reasons are footprint (a drone image's ground footprint covers the site),
-- near (a photo within 30 m), inspection (a photo of the inspection that found the site) and
-- manual (linked by hand). link_media_to_sites recomputes the first two only.
ALTER TABLE media_site_links DROP CONSTRAINT media_site_links_how_check;
ALTER TABLE media_site_links ADD CONSTRAINT media_site_links_how_check
  CHECK (how IN ('footprint', 'near', 'inspection', 'manual'));
ALTER TABLE media_site_links ADD CONSTRAINT media_site_links_site_fkey
  FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE;

-- link_media_to_sites, for real (0010 declared it for a sites table to come): links media to
-- suspected sites, both ways. A drone image to every site its ground footprint covers (the
-- site's point, or its outline meets the footprint), a photo (or a drone image without
-- footprint) to every site whose point or outline lies within near_m metres of the photo's
-- point. media_ids NULL means all media, site_ids NULL all sites (the placement job passes a
-- new medium's id; internal/sites passes a new or moved site's id). It replaces the
-- footprint/near links of the media and sites it looks at (links by hand or from an inspection
-- stay) and returns how many links it made. Media and sites are found through their spatial
-- indexes (media_point, media_footprint, sites_point): run it as the system, which row-level
-- security does not hold back (only the system writes media_site_links).
CREATE OR REPLACE FUNCTION link_media_to_sites(media_ids bigint[] DEFAULT NULL, site_ids bigint[] DEFAULT NULL,
                                               near_m double precision DEFAULT 30) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  DELETE FROM media_site_links
   WHERE how IN ('footprint', 'near')
     AND (media_ids IS NULL OR media_id = ANY (media_ids)) AND (site_ids IS NULL OR site_id = ANY (site_ids));
  WITH pairs AS (
    -- drone footprints over the sites
    SELECT m.id AS media_id, s.id AS site_id, 'footprint' AS how, m.point AS mp, s.point AS sp,
           m.region_path, s.region_path AS site_path
    FROM media m JOIN sites s
      ON m.footprint && coalesce(s.outline, s.point::geometry)
     AND ST_Intersects(m.footprint, coalesce(s.outline, s.point::geometry))
    WHERE m.footprint IS NOT NULL
      AND (media_ids IS NULL OR m.id = ANY (media_ids)) AND (site_ids IS NULL OR s.id = ANY (site_ids))
    UNION ALL
    -- photos near the sites
    SELECT m.id, s.id, 'near', m.point, s.point, m.region_path, s.region_path
    FROM media m JOIN sites s
      ON ST_DWithin(m.point::geography, coalesce(s.outline, s.point::geometry)::geography, near_m)
    WHERE m.footprint IS NULL AND m.point IS NOT NULL
      AND (media_ids IS NULL OR m.id = ANY (media_ids)) AND (site_ids IS NULL OR s.id = ANY (site_ids)))
  INSERT INTO media_site_links (media_id, site_id, how, distance_m, region_path, site_path)
  SELECT p.media_id, p.site_id, p.how,
         CASE WHEN p.mp IS NOT NULL THEN ST_Distance(p.mp::geography, p.sp::geography) END,
         p.region_path, p.site_path
  FROM pairs p
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- Users get the department they act for (联合执法部门): inspectors record the disposal actions of
-- their own department only.
ALTER TABLE users ADD COLUMN department text CHECK (department IN ('public_security', 'market_regulation',
  'emergency_management', 'ecology_environment', 'transport', 'township'));

-- The register of firms that left hazardous-chemical production (附件1 已退出危险化学品生产的企业名单):
-- the city's list, read by every signed-in user. township_code names the township the address
-- lies in; region_path is that township's path (NULL until the township exists, or for a firm
-- of no known township), for the write policies: a coordinator keeps the firms of their
-- township, the city office all. premise_id links the firm to its premise in the register
-- (when NULL, the premise tagged exited_hazchem of the same name is taken, see internal/sites).
CREATE TABLE exited_enterprises (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  seq            integer NOT NULL CHECK (seq > 0),          -- 序号
  name           text    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),  -- 企业名称
  address        text    NOT NULL DEFAULT '' CHECK (length(address) <= 300),      -- 地址
  credit_code    text    NOT NULL DEFAULT '' CHECK (credit_code = '' OR credit_code ~ '^[0-9A-Z]{18}$'),
  township_code  text    NOT NULL DEFAULT '',
  region_path    ltree,
  premise_id     bigint REFERENCES premises (id) ON DELETE SET NULL,
  note           text    NOT NULL DEFAULT '' CHECK (length(note) <= 500),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION exited_enterprises_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.region_path := (SELECT r.path FROM regions r WHERE r.code = NEW.township_code AND r.level = 'township');
  RETURN NEW;
END $$;
CREATE TRIGGER exited_enterprises_place BEFORE INSERT OR UPDATE OF township_code ON exited_enterprises
  FOR EACH ROW EXECUTE FUNCTION exited_enterprises_place();

ALTER TABLE exited_enterprises ENABLE ROW LEVEL SECURITY;
ALTER TABLE exited_enterprises FORCE ROW LEVEL SECURITY;
CREATE POLICY exited_enterprises_read ON exited_enterprises FOR SELECT
  USING (sieve_system() OR sieve_user_id() IS NOT NULL);
CREATE POLICY exited_enterprises_insert ON exited_enterprises FOR INSERT WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY exited_enterprises_update ON exited_enterprises FOR UPDATE
  USING (sieve_in_scope(region_path)) WITH CHECK (sieve_in_scope(region_path));
SELECT sieve_system_update('exited_enterprises');
SELECT sieve_audit_table('exited_enterprises');

-- The seed's four (附件1), placed in the townships their addresses name (the two industrial
-- parks in 韩城街道, as the demo city places them).
SELECT set_config('sieve.system', 'on', true);
INSERT INTO exited_enterprises (seq, name, address, township_code) VALUES
  (1, '禹州百灵生物农药有限公司', '禹州市花园工业西区', '411081003'),
  (2, '禹州市恒发溶解乙炔气厂', '禹州市朱阁乡大墙王村', '411081113'),
  (3, '禹州市维立特化工有限公司', '禹州市西工业园区中端', '411081003'),
  (4, '撒尔夫(河南)农化有限公司', '禹州市朱阁乡工业园区', '411081113');
SELECT set_config('sieve.system', '', true);
