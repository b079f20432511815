-- Survey quality (issue 15): what is wrong with each drone image, how its footprint was cut,
-- and the same card in more than one survey.
--
-- * quality_meta and quality_pixels are the quality flags (internal/media/quality.go) the two
--   media jobs find, each written only by its own job so that neither overwrites the other:
--   the metadata job (no GPS, impossible position, outside the survey's region, at or above the
--   horizon, no attitude, capture time far from the flight date) and the thumbnail job (dark,
--   blown out, blurred, measured on the list thumbnail). Each is a JSON array of
--   {"code", "reason", "reasonEn", "value"?}.
-- * duplicate_names lists the other names the same bytes came under in the medium's surveys
--   (one object stored; the survey shows both names).
-- * footprint_clipped says the ground footprint was cut at the configured range
--   (imagery.FootprintClipped); no_footprint says why a drone image has none (no_attitude,
--   no_altitude, above_horizon, no_field_of_view, no_position).
-- * linked_survey_ids are the surveys other than survey_id that list the medium: the same card
--   uploaded into a second survey is linked there, not stored twice. The medium keeps the area
--   (region_path) of its first survey.
ALTER TABLE media
  ADD COLUMN quality_meta      jsonb    NOT NULL DEFAULT '[]',
  ADD COLUMN quality_pixels    jsonb    NOT NULL DEFAULT '[]',
  ADD COLUMN duplicate_names   text[]   NOT NULL DEFAULT '{}',
  ADD COLUMN footprint_clipped boolean  NOT NULL DEFAULT false,
  ADD COLUMN no_footprint      text     NOT NULL DEFAULT '',
  ADD COLUMN linked_survey_ids bigint[] NOT NULL DEFAULT '{}';
CREATE INDEX media_linked_surveys ON media USING gin (linked_survey_ids) WHERE linked_survey_ids <> '{}';

-- A file announced twice in one batch under two names: the second name waits on the session
-- until Complete moves it onto the medium.
ALTER TABLE upload_sessions
  ADD COLUMN duplicate_names text[] NOT NULL DEFAULT '{}';
