-- Public tips' photos become media (issue 14's loose ends), and the throttle's table gets the
-- index its pruning needs.
--
-- A tip's photo (tip_photos, 0030) was stored through the upload checks but was no medium: no
-- thumbnails, EXIF place and time, pHash, cells or site links. Now the intake records each one
-- as a medium too, in the tip's transaction, and enqueues the media jobs like any upload's:
--
--   source       'upload' (a signed-in user's photo or drone image, as before) or 'tip'.
--   uploaded_by  NULL for a tip's photo: the public has no account, and a fake "public" user
--                would hold every tip photo of the city under one uploader, which the policies
--                read as "the uploader sees their own media" and the sha256 index as "one copy
--                per uploader" (two reporters sending the same picture are two tips, two media).
--   region_path  the tip's path (its cell's), not an uploader's: the photo is seen by those who
--                handle the tip (its township's coordinators, the cell's grid worker, the city);
--                a tip without a point has no path and its photos are the city's, as the tip is.
--                tips_media_path keeps the copy when the tip is placed again or given a point.
--
-- The policy media_tip_scope narrows what media's permissive read policies grant for a tip's
-- photo to its path alone: media_read also shows a medium to whoever holds a cell its point
-- lies in, and a tip photo's EXIF position may be anywhere (the reporter's home); only the tip's
-- handlers see it. Only the system (the intake) records one (media_tip_intake).
ALTER TABLE media ADD COLUMN source text NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'tip'));
ALTER TABLE media ALTER COLUMN uploaded_by DROP NOT NULL;
ALTER TABLE media ADD CONSTRAINT media_uploader_check CHECK ((source = 'tip') = (uploaded_by IS NULL));
ALTER TABLE media ADD CONSTRAINT media_tip_kind_check CHECK (source = 'upload' OR kind = 'photo');
-- media_cells copies the uploader for its own read policy (0010): none for a tip's photo.
ALTER TABLE media_cells ALTER COLUMN uploaded_by DROP NOT NULL;

CREATE POLICY media_tip_scope ON media AS RESTRICTIVE FOR SELECT
  USING (source = 'upload' OR sieve_in_scope(region_path));
CREATE POLICY media_tip_intake ON media AS RESTRICTIVE FOR INSERT
  WITH CHECK (source = 'upload' OR sieve_system());

-- The medium of each tip photo (NULL for the photos stored before this migration: they have no
-- jobs and stay served from their object only).
ALTER TABLE tip_photos ADD COLUMN media_id bigint UNIQUE REFERENCES media (id);

-- A site opened from a tip is linked to the tip's photos with reason 'tip' (internal/tips
-- ToSite); like 'inspection' and 'manual', link_media_to_sites (0022) leaves it when it
-- recomputes the links by place.
ALTER TABLE media_site_links DROP CONSTRAINT media_site_links_how_check;
ALTER TABLE media_site_links ADD CONSTRAINT media_site_links_how_check
  CHECK (how IN ('footprint', 'near', 'inspection', 'manual', 'tip'));

-- tips_media_path copies a tip's new path to its photos' media (and to their cell rows' copy of
-- it, which only the system may rewrite: for another actor that part changes nothing, and the
-- media placer or the next placement rewrites it). It fires after the tip's own placement
-- (tips_place, a BEFORE trigger) and after place_tips_in_region, whatever column the UPDATE
-- named.
CREATE FUNCTION tips_media_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE media m SET region_path = NEW.region_path, updated_at = now()
  FROM tip_photos p
  WHERE p.tip_id = NEW.id AND m.id = p.media_id AND m.region_path IS DISTINCT FROM NEW.region_path;
  UPDATE media_cells c SET media_region_path = NEW.region_path
  FROM tip_photos p
  WHERE p.tip_id = NEW.id AND c.media_id = p.media_id AND c.media_region_path IS DISTINCT FROM NEW.region_path;
  RETURN NULL;
END $$;
CREATE TRIGGER tips_media_path AFTER UPDATE ON tips
  FOR EACH ROW WHEN (OLD.region_path IS DISTINCT FROM NEW.region_path) EXECUTE FUNCTION tips_media_path();

-- The throttle's pruning job (internal/throttle Prune) deletes the events older than the longest
-- window any limiter uses, by time alone.
CREATE INDEX login_failures_at ON login_failures (failed_at);
