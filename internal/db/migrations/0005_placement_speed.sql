-- Speed for bulk placement (premises imports and re-placing after cell changes).
--
-- A partial spatial index over the grid cells alone: placing a point looks among the cells
-- first, and without it the index walk also wades through the villages, townships and city.
CREATE INDEX region_shapes_cells ON region_shapes USING gist (geom) WHERE level = 'cell';

-- audit_row as in 0002, but a bulk load (sieve.bulk = on) returns before building the row
-- images: their to_jsonb calls were most of the cost of the trigger on large imports.
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_j jsonb;
  new_j jsonb;
  j     jsonb;
  p     text;
BEGIN
  IF coalesce(current_setting('sieve.bulk', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  old_j := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) - 'password_hash' - 'geom' END;
  new_j := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) - 'password_hash' - 'geom' END;
  j := coalesce(new_j, old_j);
  p := coalesce(j ->> 'path', j ->> 'region_path', j ->> 'cell_path');
  IF TG_OP = 'UPDATE' AND old_j = new_j THEN
    RETURN NULL;
  END IF;
  INSERT INTO audit_log (user_id, actor, action, entity, entity_id, region_path, remote_addr, request_id, before, after)
  VALUES (sieve_user_id(),
          coalesce(nullif(current_setting('sieve.actor', true), ''), 'unknown'),
          lower(TG_OP), TG_TABLE_NAME, coalesce(j ->> 'id', j ->> 'user_id', ''),
          p::ltree,
          coalesce(current_setting('sieve.remote_addr', true), ''),
          coalesce(current_setting('sieve.request_id', true), ''),
          old_j, new_j);
  RETURN NULL;
END $$;

-- Indexes that row-level security makes useless: the policy on premises is evaluated before
-- any condition that is not leakproof, and ltree's <@ is not, so premises_path is never used
-- for a scoped query; premises_kind (seven values) never pays for itself. Both slowed imports.
DROP INDEX premises_path;
DROP INDEX premises_kind;

-- premises.cell_id is derived from the location, like region_path, and only placement writes it
-- (internal/premises: on insert, on a move, and by Reassign in the same transaction that
-- replaces a region's cells). Its foreign key check cost a quarter of a bulk import.
ALTER TABLE premises DROP CONSTRAINT premises_cell_id_fkey;
