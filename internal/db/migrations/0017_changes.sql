-- The change feed (变更流) that phone sync reads (internal/changes, GET /api/v1/sync): one row
-- per changed row of premises, inspections, tasks and cell_assignments, written by statement
-- triggers in the same transaction as the change, so a change and its feed row commit or vanish
-- together. It is not the audit log (which bulk writes summarise) and not a timestamp column
-- (clocks and commit order disagree): every row has a sequence number and the id of the
-- transaction that wrote it.
--
-- The triggers are AFTER ... FOR EACH STATEMENT with transition tables: a bulk write (db.Bulk:
-- premises imports, re-placing after cells change, region moves) feeds one INSERT ... SELECT per
-- statement, set-wise, and there is no switch to turn them off, so no writer can forget the feed.
--
-- Each row says which cell the changed row was in before and after the change: a
-- premise moved from cell A to cell B is a tombstone for A's workers and an upsert for B's; and
-- which user it concerns before and after (an inspection's inspector, a task's assignee, the
-- worker of a cell assignment). The row carries no content: sync reads the current row.
--
-- Commit order. seq is taken at insert, but transactions commit in another order, so a reader
-- that has seen seq N can miss N-1 committed later. xid (pg_current_xact_id()) solves it: sync
-- (internal/changes) works in rounds between two snapshots (pg_current_snapshot()). A round
-- serves the changes whose transaction is visible in its target snapshot and was not in the
-- base one (pg_visible_in_snapshot), in (xid, seq) order; the target then becomes the next
-- base. A transaction still running when a round began is not visible in its target, so a later
-- round serves it, whatever the commit order; only transactions really in progress are waited
-- for, and the xid range [base xmin, target xmax) bounds the index scan.
CREATE TABLE changes (
  seq          bigint GENERATED ALWAYS AS IDENTITY,
  -- pg_current_xact_id() as bigint (an xid8 is 64 bits, epoch included): bigint comparison is
  -- leakproof, so the position index serves reads under row-level security.
  xid          bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
  at           timestamptz NOT NULL DEFAULT now(),
  entity       text   NOT NULL CHECK (entity IN ('premise', 'inspection', 'task', 'cell_assignment')),
  entity_id    text   NOT NULL,  -- premise and task ids, inspection uuids, 'user:cell' for assignments
  op           text   NOT NULL CHECK (op IN ('upsert', 'delete')),
  cell_before  bigint,
  cell_after   bigint,
  user_before  bigint,
  user_after   bigint
);
CREATE UNIQUE INDEX changes_position ON changes (xid, seq);

-- changes_pruned holds the position of the newest change the retention job deleted: a cursor
-- below it may have missed a change and answers 410 cursor_expired.
CREATE TABLE changes_pruned (
  id     int    PRIMARY KEY CHECK (id = 1),
  xid    bigint NOT NULL,
  seq    bigint NOT NULL,
  at     timestamptz NOT NULL DEFAULT now()
);

-- Every signed-in caller may read the feed: its rows hold ids and cells only, never
-- content, and sync reads the content itself under the content's own policies (a change the
-- caller may not see yields nothing, or a tombstone of an id they held). A per-row scope check
-- here would cost every sync its ltree parsing on each row read (about 15 us a row).
ALTER TABLE changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE changes FORCE ROW LEVEL SECURITY;
CREATE POLICY changes_read ON changes FOR SELECT USING (sieve_system() OR sieve_user_id() IS NOT NULL);
-- The triggers write as whoever made the change, so anyone may insert; a forged row can only make
-- sync send a row's current state again, which the reader may see anyway.
CREATE POLICY changes_insert ON changes FOR INSERT WITH CHECK (true);
CREATE POLICY changes_delete ON changes FOR DELETE USING (sieve_system());

ALTER TABLE changes_pruned ENABLE ROW LEVEL SECURITY;
ALTER TABLE changes_pruned FORCE ROW LEVEL SECURITY;
CREATE POLICY changes_pruned_read ON changes_pruned FOR SELECT USING (true);
CREATE POLICY changes_pruned_write ON changes_pruned FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY changes_pruned_system_update ON changes_pruned FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());

-- One trigger function per table (its columns differ), run by three statement triggers (one per
-- event: a trigger with transition tables fires on one event). Updates that change nothing are
-- left out: premises compare rows (every column type has an equality; re-placing updates them by
-- the hundred thousand), inspections and tasks compare them as jsonb, which holds whatever
-- columns their domains add later.
CREATE FUNCTION changes_premises() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO changes (entity, entity_id, op, cell_after)
    SELECT 'premise', n.id::text, 'upsert', n.cell_id FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO changes (entity, entity_id, op, cell_before, cell_after)
    SELECT 'premise', n.id::text, 'upsert', o.cell_id, n.cell_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n IS DISTINCT FROM o;
  ELSE
    INSERT INTO changes (entity, entity_id, op, cell_before)
    SELECT 'premise', o.id::text, 'delete', o.cell_id FROM old_rows o;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION changes_inspections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO changes (entity, entity_id, op, cell_after, user_after)
    SELECT 'inspection', n.id::text, 'upsert', n.cell_id, n.inspector_id FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO changes (entity, entity_id, op, cell_before, cell_after, user_before, user_after)
    SELECT 'inspection', n.id::text, 'upsert', o.cell_id, n.cell_id, o.inspector_id, n.inspector_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE to_jsonb(n) IS DISTINCT FROM to_jsonb(o);
  ELSE
    INSERT INTO changes (entity, entity_id, op, cell_before, user_before)
    SELECT 'inspection', o.id::text, 'delete', o.cell_id, o.inspector_id FROM old_rows o;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION changes_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO changes (entity, entity_id, op, cell_after, user_after)
    SELECT 'task', n.id::text, 'upsert', n.cell_id, n.assignee_id FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO changes (entity, entity_id, op, cell_before, cell_after, user_before, user_after)
    SELECT 'task', n.id::text, 'upsert', o.cell_id, n.cell_id, o.assignee_id, n.assignee_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE to_jsonb(n) IS DISTINCT FROM to_jsonb(o);
  ELSE
    INSERT INTO changes (entity, entity_id, op, cell_before, user_before)
    SELECT 'task', o.id::text, 'delete', o.cell_id, o.assignee_id FROM old_rows o;
  END IF;
  RETURN NULL;
END $$;

-- An assignment's key is (user_id, cell_id): an update that changes either is the old one
-- removed and a new one made.
CREATE FUNCTION changes_cell_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO changes (entity, entity_id, op, cell_after, user_after)
    SELECT 'cell_assignment', n.user_id || ':' || n.cell_id, 'upsert', n.cell_id, n.user_id FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO changes (entity, entity_id, op, cell_before, user_before)
    SELECT 'cell_assignment', o.user_id || ':' || o.cell_id, 'delete', o.cell_id, o.user_id
    FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.user_id = o.user_id AND n.cell_id = o.cell_id);
    INSERT INTO changes (entity, entity_id, op, cell_after, user_after)
    SELECT 'cell_assignment', n.user_id || ':' || n.cell_id, 'upsert', n.cell_id, n.user_id
    FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.user_id = n.user_id AND o.cell_id = n.cell_id);
  ELSE
    INSERT INTO changes (entity, entity_id, op, cell_before, user_before)
    SELECT 'cell_assignment', o.user_id || ':' || o.cell_id, 'delete', o.cell_id, o.user_id FROM old_rows o;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER premises_changes_insert AFTER INSERT ON premises
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_premises();
CREATE TRIGGER premises_changes_update AFTER UPDATE ON premises
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_premises();
CREATE TRIGGER premises_changes_delete AFTER DELETE ON premises
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_premises();

CREATE TRIGGER inspections_changes_insert AFTER INSERT ON inspections
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_inspections();
CREATE TRIGGER inspections_changes_update AFTER UPDATE ON inspections
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_inspections();
CREATE TRIGGER inspections_changes_delete AFTER DELETE ON inspections
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_inspections();

CREATE TRIGGER tasks_changes_insert AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_tasks();
CREATE TRIGGER tasks_changes_update AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_tasks();
CREATE TRIGGER tasks_changes_delete AFTER DELETE ON tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_tasks();

CREATE TRIGGER cell_assignments_changes_insert AFTER INSERT ON cell_assignments
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_cell_assignments();
CREATE TRIGGER cell_assignments_changes_update AFTER UPDATE ON cell_assignments
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_cell_assignments();
CREATE TRIGGER cell_assignments_changes_delete AFTER DELETE ON cell_assignments
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_cell_assignments();
