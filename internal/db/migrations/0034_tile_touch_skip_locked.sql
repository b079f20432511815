-- sieve_tile_touch (migration 0033) without waiting on another transaction.
--
-- 0033 wrote each touched (layer, cell) with INSERT ... ON CONFLICT DO UPDATE: a row lock held to
-- the end of the transaction. Two transactions writing in the same cell then ran one after the
-- other — a long import, or a phone sync's test write, held every other write of its cells (a
-- premise renamed while another premise of the same cell was being edited waited for it). The
-- tile state is only a change counter for the ETag, so a touch now skips a row another
-- transaction holds (FOR UPDATE SKIP LOCKED): that transaction sets the row to a new value when it
-- commits, which changes the tile's state after both. The one case this gives up: the holder
-- rolls back after ours committed — then the tile keeps its ETag until the cell's next touch or
-- the layer's clock period (Layer.Ticks: an hour for cells and premises, 10 minutes for sites).
-- A missing row (a new cell) is still inserted; ON CONFLICT DO NOTHING.
CREATE OR REPLACE FUNCTION sieve_tile_touch(layers text[], cells bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  was  text := coalesce(current_setting('sieve.system', true), '');
  l    text;
  v    bigint;
BEGIN
  IF cells IS NULL OR cardinality(cells) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  FOREACH l IN ARRAY layers LOOP
    v := nextval(format('tiles_%s_state', l)::regclass);
    WITH k AS (SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL),
    free AS (
      SELECT t.cell_id FROM tile_cell_states t JOIN k ON t.cell_id = k.c
      WHERE t.layer = l ORDER BY t.cell_id FOR UPDATE OF t SKIP LOCKED)
    UPDATE tile_cell_states t SET state = v FROM free WHERE t.layer = l AND t.cell_id = free.cell_id;
    INSERT INTO tile_cell_states (layer, cell_id, state)
    SELECT l, k.c, v FROM (SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL) k
    WHERE EXISTS (SELECT 1 FROM regions r WHERE r.id = k.c)
      AND NOT EXISTS (SELECT 1 FROM tile_cell_states t WHERE t.layer = l AND t.cell_id = k.c)
    ORDER BY k.c
    ON CONFLICT (layer, cell_id) DO NOTHING;
  END LOOP;
  PERFORM set_config('sieve.system', was, true);
END $$;
