-- Tasks (任务): work handed to the grid worker of a cell, that reaches the phone through sync:
-- re-checks of another worker's visits (抽查回访), re-inspections of closed sites (回头看),
-- leads and tips to verify, coverage gaps a coordinator turned into work. Premises simply due in
-- the current round are not stored here: sync derives them from the round and the inspections.
--
-- A task lives at a point (its premise's, its site's, or its own) and so in a grid cell,
-- computed from region_shapes like a premise's (never typed), placed again by the tasks placer
-- when cells change. region_path is the cell's path (or the deepest region's when no cell
-- holds the point), for the policies. assignee_id, when set, names the one person who should
-- do it (a re-check never goes to the worker whose visit it checks); otherwise the cell's grid
-- workers see it. kind + ref identify the source (an inspection id, a site id, a lead id), so a
-- domain can close its own tasks, and (kind, ref) is unique among open tasks: adding the same
-- task again is a no-op.
CREATE TABLE tasks (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text   NOT NULL CHECK (kind IN ('recheck', 'site_reinspection', 'lead', 'tip', 'gap')),
  ref          text   NOT NULL CHECK (length(ref) BETWEEN 1 AND 100),
  premise_id   bigint REFERENCES premises (id) ON DELETE SET NULL,
  site_id      bigint,  -- sites arrive with their own migration
  point        geometry(Point, 4326) NOT NULL,
  cell_id      bigint,  -- derived from point, like premises.cell_id (no foreign key, see 0005)
  region_path  ltree,
  assignee_id  bigint REFERENCES users (id) ON DELETE SET NULL,
  title        text   NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  detail       text   NOT NULL DEFAULT '' CHECK (length(detail) <= 2000),
  due_at       timestamptz,
  status       text   NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
  done_at      timestamptz,
  done_ref     text   NOT NULL DEFAULT '',  -- what closed it (an inspection id ...)
  created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'open') = (done_at IS NULL))
);
CREATE UNIQUE INDEX tasks_open_ref ON tasks (kind, ref) WHERE status = 'open';
CREATE INDEX tasks_cell ON tasks (cell_id, status);
CREATE INDEX tasks_assignee ON tasks (assignee_id, status) WHERE assignee_id IS NOT NULL;
CREATE INDEX tasks_premise ON tasks (premise_id) WHERE premise_id IS NOT NULL;

-- tasks_place: a task's cell and path from its point, through region_shapes (its GiST index
-- works under row-level security), the same rule as a premise's: the lowest-id cell holding the
-- point, else the deepest region.
CREATE FUNCTION tasks_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER tasks_place BEFORE INSERT OR UPDATE OF point ON tasks
  FOR EACH ROW EXECUTE FUNCTION tasks_place();

SELECT sieve_secure_table('tasks', 'region_path', 'scope');
SELECT sieve_audit_table('tasks');
-- The assignee sees and closes their own task wherever it lies.
CREATE POLICY tasks_read_assignee ON tasks FOR SELECT USING (assignee_id = sieve_user_id());
CREATE POLICY tasks_update_assignee ON tasks FOR UPDATE
  USING (assignee_id = sieve_user_id()) WITH CHECK (assignee_id = sieve_user_id());

-- place_tasks_in_region places again the tasks of a region whose cells changed (the tasks
-- placer, internal/tasks): those whose point lies in the region or whose path lies under it.
-- It returns how many moved.
CREATE FUNCTION place_tasks_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT t.id, c.region_id AS cell_id, coalesce(c.path, a.path) AS path
    FROM tasks t CROSS JOIN area
    LEFT JOIN LATERAL (SELECT s.region_id, s.path FROM region_shapes s
      WHERE s.level = 'cell' AND ST_Intersects(s.geom, t.point) ORDER BY s.region_id LIMIT 1) c ON true
    LEFT JOIN LATERAL (SELECT s.path FROM region_shapes s
      WHERE c.region_id IS NULL AND s.level <> 'cell' AND ST_Intersects(s.geom, t.point)
      ORDER BY nlevel(s.path) DESC, s.region_id LIMIT 1) a ON true
    WHERE t.region_path <@ area.path OR ST_Intersects(area.geom, t.point))
  UPDATE tasks t SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
  FROM placed
  WHERE t.id = placed.id
    AND (t.cell_id IS DISTINCT FROM placed.cell_id OR t.region_path IS DISTINCT FROM placed.path);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
