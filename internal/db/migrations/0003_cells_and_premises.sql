-- Grid cells and the premises register (场所台账).
--
-- Cells are regions of level 'cell' (migration 0002); generated ones remember their lattice
-- position. Premises are points; each lies in at most one cell (computed from its location,
-- never typed) and carries the path of the deepest region that contains it, which is what the
-- row-level security policies compare with the caller's scope. Inspections, suspected sites,
-- coverage and ledgers hang on premises and cells by id: premises.cell_id is indexed for the
-- per-cell roll-ups, premises.geom for map and proximity queries.

ALTER TABLE regions
  ADD COLUMN grid_shape  text CHECK (grid_shape IN ('square', 'hexagon')),
  ADD COLUMN grid_size_m double precision CHECK (grid_size_m > 0),
  ADD COLUMN grid_row    integer,
  ADD COLUMN grid_col    integer;
CREATE INDEX regions_parent_level ON regions (parent_id, level);

CREATE TABLE premises (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- household 住户, enterprise 企业, idle_factory 闲置厂房, idle_warehouse 闲置仓库,
  -- abandoned_farm 废弃养殖场, idle_house 闲置房屋, other 其他.
  kind           text NOT NULL CHECK (kind IN ('household', 'enterprise', 'idle_factory', 'idle_warehouse',
                                               'abandoned_farm', 'idle_house', 'other')),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  address        text NOT NULL DEFAULT '' CHECK (length(address) <= 300),
  contact_name   text NOT NULL DEFAULT '' CHECK (length(contact_name) <= 100), -- owner or legal person
  contact_phone  text NOT NULL DEFAULT '' CHECK (length(contact_phone) <= 30),
  credit_code    text NOT NULL DEFAULT '' CHECK (credit_code = '' OR credit_code ~ '^[0-9A-Z]{18}$'), -- 统一社会信用代码
  tags           text[] NOT NULL DEFAULT '{}',
  -- register: from the register (import or office); field: found and added by a grid worker.
  source         text NOT NULL DEFAULT 'register' CHECK (source IN ('register', 'field')),
  ref            text NOT NULL DEFAULT '' CHECK (length(ref) <= 100), -- id in the file it came from
  geom           geometry(Point, 4326) NOT NULL,
  cell_id        bigint REFERENCES regions (id) ON DELETE SET NULL,
  -- Path of the cell, or of the deepest region containing the point when no cell does.
  region_path    ltree,
  created_by     bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX premises_geom ON premises USING gist (geom);
CREATE INDEX premises_cell ON premises (cell_id);
CREATE INDEX premises_path ON premises USING gist (region_path);
CREATE INDEX premises_kind ON premises (kind);
CREATE UNIQUE INDEX premises_ref ON premises (ref) WHERE ref <> '';

CREATE TRIGGER premises_audit AFTER INSERT OR UPDATE OR DELETE ON premises
  FOR EACH ROW EXECUTE FUNCTION audit_row();

ALTER TABLE premises ENABLE ROW LEVEL SECURITY;
ALTER TABLE premises FORCE ROW LEVEL SECURITY;
CREATE POLICY premises_read ON premises FOR SELECT USING (sieve_in_scope(region_path));
CREATE POLICY premises_insert ON premises FOR INSERT WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY premises_update ON premises FOR UPDATE
  USING (sieve_in_scope(region_path)) WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY premises_delete ON premises FOR DELETE USING (sieve_in_scope(region_path));
