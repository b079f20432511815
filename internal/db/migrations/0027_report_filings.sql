-- Monthly filings (月度报送) of the ledgers 附件2 and 附件3, the final report (总结报告, due 22
-- October, with its written summary), and the background exports of large ledgers (issue 13).
--
-- A filing freezes both ledgers as they were rendered when it was made: the files live in MinIO
-- (internal/reports writes each object first, under a key no row names, then records it here
-- with its SHA-256 in one transaction; a periodic cleanup removes objects that no row names).
-- Filings are never changed or deleted: a correction is a new filing that supersedes the one in
-- force (supersedes_id, at most one correction per filing), so every filing of a township's month
-- forms one chain and the one no row supersedes is in force.

CREATE TABLE report_filings (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  township_id     bigint NOT NULL REFERENCES regions (id),
  township_path   ltree  NOT NULL,
  month           text   NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  -- monthly 月度台账; final 总结报告 (书面报告，含附件2、附件3).
  kind            text   NOT NULL CHECK (kind IN ('monthly', 'final')),
  summary         text   NOT NULL DEFAULT '' CHECK (length(summary) <= 20000),
  supersedes_id   bigint UNIQUE REFERENCES report_filings (id),
  filed_by        bigint NOT NULL REFERENCES users (id),
  filed_at        timestamptz NOT NULL,
  -- SHA-256 of the request (township, month, kind, summary, supersedes): a retry of the same
  -- request finds the filing it made instead of making a second one.
  request_sha256  text   NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
  idempotency_key text   CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  UNIQUE (filed_by, idempotency_key),
  CHECK (kind = 'monthly' OR summary <> '')
);
-- One first filing per township, month and kind; the rest are corrections.
CREATE UNIQUE INDEX report_filings_first ON report_filings (township_id, month, kind) WHERE supersedes_id IS NULL;
CREATE INDEX report_filings_month ON report_filings (month, kind, township_id);

CREATE TRIGGER report_filings_township_path BEFORE INSERT OR UPDATE OF township_id ON report_filings
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('township_id', 'regions', 'path', 'township_path');

-- report_filings_chain: a correction is of the same township, month and kind as the filing it
-- supersedes (read under the caller's policies: a filing out of sight is not found).
CREATE FUNCTION report_filings_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM report_filings p WHERE p.id = NEW.supersedes_id
         AND p.township_id = NEW.township_id AND p.month = NEW.month AND p.kind = NEW.kind) THEN
    RAISE EXCEPTION 'report_filings: filing % supersedes % of another township, month or kind',
      NEW.id, NEW.supersedes_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER report_filings_chain BEFORE INSERT ON report_filings
  FOR EACH ROW EXECUTE FUNCTION report_filings_chain();

SELECT sieve_secure_table('report_filings', 'township_path', 'scope');
SELECT sieve_audit_table('report_filings');
-- Filed is filed: only the system (a region move's repath) changes a row, nobody deletes one.
CREATE POLICY report_filings_kept_update ON report_filings AS RESTRICTIVE FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
CREATE POLICY report_filings_kept_delete ON report_filings AS RESTRICTIVE FOR DELETE USING (sieve_system());

-- The files of a filing: the two frozen ledgers and the scan of the stamped sheets (盖章扫描件).
CREATE TABLE report_files (
  filing_id     bigint NOT NULL REFERENCES report_filings (id),
  -- illegal 附件2, exited 附件3, scan 盖章扫描件/照片.
  part          text   NOT NULL CHECK (part IN ('illegal', 'exited', 'scan')),
  township_path ltree  NOT NULL,
  object_key    text   NOT NULL UNIQUE CHECK (object_key LIKE 'reports/%'),
  name          text   NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  content_type  text   NOT NULL CHECK (length(content_type) BETWEEN 1 AND 100),
  size          bigint NOT NULL CHECK (size > 0),
  sha256        text   NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  added_by      bigint NOT NULL REFERENCES users (id),
  added_at      timestamptz NOT NULL,
  PRIMARY KEY (filing_id, part)
);
CREATE TRIGGER report_files_township_path BEFORE INSERT OR UPDATE OF filing_id ON report_files
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('filing_id', 'report_filings', 'township_path', 'township_path');
SELECT sieve_secure_table('report_files', 'township_path', 'scope');
SELECT sieve_audit_table('report_files');
CREATE POLICY report_files_kept_update ON report_files AS RESTRICTIVE FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
CREATE POLICY report_files_kept_delete ON report_files AS RESTRICTIVE FOR DELETE USING (sieve_system());

-- Background exports (导出任务): a large ledger (the whole city's workbook) made by a job and
-- kept in the derived bucket until expires_at. The caller's area decides what may be asked for
-- (a coordinator's export of the whole city is refused by the insert policy); only the job
-- (the system) moves its state.
CREATE TABLE report_exports (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region_id       bigint NOT NULL REFERENCES regions (id),
  region_path     ltree  NOT NULL,
  kind            text   NOT NULL CHECK (kind IN ('illegal', 'exited', 'exited_list')),
  month           text   NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  format          text   NOT NULL CHECK (format IN ('xlsx', 'csv')),
  state           text   NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'ready', 'failed', 'expired')),
  requested_by    bigint NOT NULL REFERENCES users (id),
  requester_role  text   NOT NULL CHECK (length(requester_role) BETWEEN 1 AND 40),
  idempotency_key text   CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  object_key      text   UNIQUE CHECK (object_key LIKE 'exports/%'),
  name            text   CHECK (length(name) <= 200),
  content_type    text   CHECK (length(content_type) <= 100),
  size            bigint CHECK (size >= 0),
  sha256          text   CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  error           text   NOT NULL DEFAULT '' CHECK (length(error) <= 500),
  created_at      timestamptz NOT NULL,
  finished_at     timestamptz,
  expires_at      timestamptz,
  UNIQUE (requested_by, idempotency_key),
  CHECK (state <> 'ready' OR (object_key IS NOT NULL AND sha256 IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX report_exports_expiry ON report_exports (expires_at) WHERE state = 'ready';
CREATE TRIGGER report_exports_region_path BEFORE INSERT OR UPDATE OF region_id ON report_exports
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path');
SELECT sieve_secure_table('report_exports', 'region_path', 'scope');
SELECT sieve_audit_table('report_exports');
CREATE POLICY report_exports_job_update ON report_exports AS RESTRICTIVE FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
CREATE POLICY report_exports_job_delete ON report_exports AS RESTRICTIVE FOR DELETE USING (sieve_system());
