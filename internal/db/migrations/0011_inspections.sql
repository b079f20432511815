-- Rounds and inspections (排查轮次, 排查记录): the tables the inspections, coverage and ledger
-- issues build on. This migration lays down their storage so that the demo city can carry
-- inspections; the API that records them (POST /inspections with a phone-made id) and the
-- evidence check come with the inspections issue, in migrations of their own.
--
-- An inspection is evidence, not a tick box (DESIGN.md): who, when (the phone's clock and the
-- server's), where (the phone's GPS and its accuracy), the outcome, the checklist of the five
-- situations (排查情形), and later its photos. Coverage counts premises with an inspection in
-- the current round, so every inspection belongs to a round; rounds expire (回头看).

CREATE TABLE rounds (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text   NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
  region_id    bigint REFERENCES regions (id),  -- NULL: the whole city
  region_path  ltree,                           -- copy of the region's path, for the policies
  created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((region_id IS NULL) = (region_path IS NULL))
);
CREATE INDEX rounds_period ON rounds (starts_at, ends_at);

CREATE TABLE inspections (
  -- Made by the phone when the visit is recorded, so an upload retried on a weak network is the
  -- same inspection, not a second one.
  id                 uuid PRIMARY KEY,
  premise_id         bigint NOT NULL REFERENCES premises (id),
  round_id           bigint NOT NULL REFERENCES rounds (id),
  -- The premise's cell and region path when it was inspected (placement may change later).
  cell_id            bigint,
  region_path        ltree,
  inspector_id       bigint NOT NULL REFERENCES users (id),
  visited_at         timestamptz NOT NULL,            -- the phone's clock
  received_at        timestamptz NOT NULL DEFAULT now(),
  device_point       geometry(Point, 4326),           -- the phone's GPS fix
  device_accuracy_m  real CHECK (device_accuracy_m >= 0),
  -- clear 无异常, suspected 疑似, closed 关门无人 (visit again), refused 拒绝检查, not_found 未找到.
  outcome            text NOT NULL CHECK (outcome IN ('clear', 'suspected', 'closed', 'refused', 'not_found')),
  -- The five situations of the seed, split the way 附件2 splits its columns:
  -- unlicensed 无证无照或证照不全, beyond_licence 超许可范围生产储存, non_chemical_producing
  -- 非化工企业未经许可生产, exited_producing 已退出企业非法生产, affiliated_leased 挂靠租赁,
  -- factory_in_factory 厂中厂, other 其他违法违规行为.
  findings           text[] NOT NULL DEFAULT '{}' CHECK (findings <@ ARRAY['unlicensed', 'beyond_licence',
                       'non_chemical_producing', 'exited_producing', 'affiliated_leased', 'factory_in_factory', 'other']),
  -- For firms that exited hazardous-chemical production (附件3): 生产装置是否拆除, 是否存在转产情况.
  equipment_removed  boolean,
  converted          boolean,
  note               text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
  -- The server's evidence check (photos against the premise, the cell and the visit time):
  -- unchecked until it ran; flags say what it doubted.
  evidence           text NOT NULL DEFAULT 'unchecked' CHECK (evidence IN ('unchecked', 'ok', 'doubtful')),
  evidence_flags     text[] NOT NULL DEFAULT '{}',
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (outcome = 'suspected' OR findings = '{}')
);
CREATE INDEX inspections_premise ON inspections (premise_id, visited_at DESC);
CREATE INDEX inspections_round_cell ON inspections (round_id, cell_id);
CREATE INDEX inspections_inspector ON inspections (inspector_id, visited_at DESC);

-- The premise's place is copied on insert; a premise the inspector cannot see gives no path,
-- and the insert policy then refuses the row.
CREATE FUNCTION inspections_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT p.cell_id, p.region_path INTO NEW.cell_id, NEW.region_path FROM premises p WHERE p.id = NEW.premise_id;
  RETURN NEW;
END $$;
CREATE TRIGGER inspections_place BEFORE INSERT ON inspections
  FOR EACH ROW EXECUTE FUNCTION inspections_place();

CREATE FUNCTION rounds_set_region_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.region_path := (SELECT path FROM regions WHERE id = NEW.region_id);
  RETURN NEW;
END $$;
CREATE TRIGGER rounds_region_path BEFORE INSERT OR UPDATE OF region_id ON rounds
  FOR EACH ROW EXECUTE FUNCTION rounds_set_region_path();

CREATE TRIGGER rounds_audit AFTER INSERT OR UPDATE OR DELETE ON rounds
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER inspections_audit AFTER INSERT OR UPDATE OR DELETE ON inspections
  FOR EACH ROW WHEN (coalesce(current_setting('sieve.bulk', true), '') <> 'on')
  EXECUTE FUNCTION audit_row();

ALTER TABLE rounds ENABLE ROW LEVEL SECURITY;
ALTER TABLE rounds FORCE ROW LEVEL SECURITY;
-- City-wide rounds are read by every signed-in caller; a township's round by that township's
-- people and those above it.
CREATE POLICY rounds_read ON rounds FOR SELECT
  USING ((region_path IS NULL AND (sieve_system() OR sieve_user_id() IS NOT NULL))
         OR sieve_in_scope(region_path) OR region_path @> ANY (sieve_scope()));
CREATE POLICY rounds_insert ON rounds FOR INSERT WITH CHECK (sieve_in_scope(region_path));
CREATE POLICY rounds_update ON rounds FOR UPDATE
  USING (sieve_in_scope(region_path)) WITH CHECK (sieve_in_scope(region_path));

ALTER TABLE inspections ENABLE ROW LEVEL SECURITY;
ALTER TABLE inspections FORCE ROW LEVEL SECURITY;
CREATE POLICY inspections_read ON inspections FOR SELECT
  USING (sieve_in_scope(region_path) OR inspector_id = sieve_user_id());
CREATE POLICY inspections_insert ON inspections FOR INSERT
  WITH CHECK (sieve_in_scope(region_path) AND (sieve_system() OR inspector_id = sieve_user_id()));
-- Evidence is kept as recorded: only the system's evidence check updates a row, and nothing
-- deletes one.
CREATE POLICY inspections_update ON inspections FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
