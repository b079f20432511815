-- Accounts, the region tree, and area scoping by row-level security.
--
-- Scope model: every region has a materialised path of ids (ltree, e.g. 1.4.37.912 for
-- city.township.village.cell). A request runs in a transaction that first sets
--   sieve.user_id  the acting user's id
--   sieve.role     the acting user's role
--   sieve.scope    comma-separated region paths the user may act in
-- (db.InScope does this). Policies compare a row's path with sieve.scope. With none of these
-- set, and sieve.system not 'on', a query sees no rows: code that forgets the scope fails closed.

CREATE EXTENSION IF NOT EXISTS ltree;

-- sieve_system: true for migrations, CLI tools and background jobs (db.AsSystem).
CREATE FUNCTION sieve_system() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('sieve.system', true), '') = 'on'
$$;

-- sieve_unrestricted: sees and may change the whole city.
CREATE FUNCTION sieve_unrestricted() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT sieve_system() OR coalesce(current_setting('sieve.role', true), '') = 'city_admin'
$$;

CREATE FUNCTION sieve_user_id() RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('sieve.user_id', true), '')::bigint
$$;

CREATE FUNCTION sieve_role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('sieve.role', true), '')
$$;

CREATE FUNCTION sieve_scope() RETURNS ltree[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_to_array(nullif(current_setting('sieve.scope', true), ''), ',')::ltree[], '{}'::ltree[])
$$;

-- sieve_in_scope: the row at path p lies inside the caller's area (read and write).
CREATE FUNCTION sieve_in_scope(p ltree) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT sieve_unrestricted() OR (p IS NOT NULL AND sieve_scope() @> p)
$$;

-- Regions (区域): city → township/street (乡镇/街道) → village/community (行政村/社区) → grid cell (网格).
CREATE TABLE regions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  parent_id   bigint REFERENCES regions (id),
  level       text   NOT NULL CHECK (level IN ('city', 'township', 'village', 'cell')),
  code        text   NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
  name        text   NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  kind        text   NOT NULL DEFAULT '' CHECK (length(kind) <= 20), -- 镇/乡/街道/村/社区 ...
  path        ltree  NOT NULL,
  geom        geometry(MultiPolygon, 4326),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((level = 'city') = (parent_id IS NULL))
);
CREATE INDEX regions_parent ON regions (parent_id);
CREATE INDEX regions_path ON regions USING gist (path);
CREATE INDEX regions_geom ON regions USING gist (geom);
CREATE INDEX regions_level ON regions (level);

-- regions_set_path keeps path = parent's path + own id.
CREATE FUNCTION regions_set_path() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE parent_path ltree;
BEGIN
  IF NEW.parent_id IS NULL THEN
    NEW.path := text2ltree(NEW.id::text);
  ELSE
    SELECT path INTO parent_path FROM regions WHERE id = NEW.parent_id;
    IF parent_path IS NULL THEN
      RAISE EXCEPTION 'parent region % not found', NEW.parent_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.path := parent_path || text2ltree(NEW.id::text);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER regions_path BEFORE INSERT OR UPDATE OF parent_id ON regions
  FOR EACH ROW EXECUTE FUNCTION regions_set_path();

-- Users and roles (用户与角色).
CREATE TABLE users (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
  display_name   text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
  phone          text NOT NULL DEFAULT '' CHECK (length(phone) <= 30),
  password_hash  text NOT NULL,
  role           text NOT NULL CHECK (role IN ('city_admin', 'township_coordinator', 'grid_worker',
                                               'drone_operator', 'inspector', 'viewer')),
  region_id      bigint REFERENCES regions (id),
  -- The region path of the user's scope, copied from regions for the policies.
  region_path    ltree,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((role = 'city_admin') OR region_id IS NOT NULL)
);

CREATE FUNCTION users_set_region_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.region_id IS NULL THEN
    NEW.region_path := NULL;
  ELSE
    SELECT path INTO NEW.region_path FROM regions WHERE id = NEW.region_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER users_region_path BEFORE INSERT OR UPDATE OF region_id ON users
  FOR EACH ROW EXECUTE FUNCTION users_set_region_path();

-- Grid workers' cell assignments (网格员包片): a worker may hold several cells.
CREATE TABLE cell_assignments (
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  cell_id     bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  cell_path   ltree  NOT NULL,
  assigned_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, cell_id)
);
CREATE INDEX cell_assignments_cell ON cell_assignments (cell_id);

-- Bearer tokens: only their SHA-256 is stored.
CREATE TABLE sessions (
  token_hash   bytea PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  remote_addr  text NOT NULL DEFAULT '',
  user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed logins, for throttling per account and per address.
CREATE TABLE login_failures (
  key        text NOT NULL, -- 'user:NAME' or 'addr:IP'
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);

-- Audit log (审计日志): every write, append-only.
CREATE TABLE audit_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  user_id      bigint,
  actor        text NOT NULL,  -- username, or 'system:<what>' for tools and jobs
  action       text NOT NULL,  -- insert, update, delete, or a named action such as login
  entity       text NOT NULL,  -- table or domain object
  entity_id    text NOT NULL DEFAULT '',
  region_path  ltree,          -- where the change happened, for scoped reading
  remote_addr  text NOT NULL DEFAULT '',
  request_id   text NOT NULL DEFAULT '',
  before       jsonb,
  after        jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_path ON audit_log USING gist (region_path);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- audit_row: a row trigger that writes before/after images of audited tables. Secret columns
-- are dropped; region_path comes from the row's path-like column. Bulk loads set sieve.bulk
-- and write one summary entry themselves.
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_j jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) - 'password_hash' - 'geom' END;
  new_j jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) - 'password_hash' - 'geom' END;
  j     jsonb := coalesce(new_j, old_j);
  p     text  := coalesce(j ->> 'path', j ->> 'region_path', j ->> 'cell_path');
BEGIN
  IF coalesce(current_setting('sieve.bulk', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
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

CREATE TRIGGER regions_audit AFTER INSERT OR UPDATE OR DELETE ON regions
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER cell_assignments_audit AFTER INSERT OR UPDATE OR DELETE ON cell_assignments
  FOR EACH ROW EXECUTE FUNCTION audit_row();

-- Row-level security. FORCE makes it apply to the table owner too (the application role owns
-- its tables).
ALTER TABLE regions ENABLE ROW LEVEL SECURITY;
ALTER TABLE regions FORCE ROW LEVEL SECURITY;
-- Everyone reads their area and the regions above it (to name where they are); writes only inside.
CREATE POLICY regions_read ON regions FOR SELECT
  USING (sieve_in_scope(path) OR path @> ANY (sieve_scope()));
CREATE POLICY regions_write ON regions FOR INSERT WITH CHECK (sieve_in_scope(path));
CREATE POLICY regions_update ON regions FOR UPDATE USING (sieve_in_scope(path)) WITH CHECK (sieve_in_scope(path));
CREATE POLICY regions_delete ON regions FOR DELETE USING (sieve_in_scope(path));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
-- A user sees themself and the users whose scope lies inside their own area.
CREATE POLICY users_read ON users FOR SELECT
  USING (id = sieve_user_id() OR sieve_unrestricted() OR (region_path IS NOT NULL AND sieve_scope() @> region_path));
CREATE POLICY users_insert ON users FOR INSERT
  WITH CHECK (sieve_unrestricted() OR (region_path IS NOT NULL AND sieve_scope() @> region_path));
CREATE POLICY users_update ON users FOR UPDATE
  USING (sieve_unrestricted() OR (region_path IS NOT NULL AND sieve_scope() @> region_path))
  WITH CHECK (sieve_unrestricted() OR (region_path IS NOT NULL AND sieve_scope() @> region_path));

ALTER TABLE cell_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE cell_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY cell_assignments_all ON cell_assignments
  USING (user_id = sieve_user_id() OR sieve_in_scope(cell_path))
  WITH CHECK (sieve_in_scope(cell_path));

-- Sessions are created by the auth code as system; a caller may revoke the sessions of users
-- it can see (the subquery is itself filtered by the users policies).
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_read ON sessions FOR SELECT
  USING (sieve_system() OR EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id));
CREATE POLICY sessions_revoke ON sessions FOR UPDATE
  USING (sieve_system() OR EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id))
  WITH CHECK (sieve_system() OR EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id));
CREATE POLICY sessions_insert ON sessions FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY sessions_delete ON sessions FOR DELETE USING (sieve_system());
-- Login failures are touched only by the auth code, as system.
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY login_failures_system ON login_failures USING (sieve_system()) WITH CHECK (sieve_system());

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_insert ON audit_log FOR INSERT WITH CHECK (true);
CREATE POLICY audit_log_read ON audit_log FOR SELECT
  USING (sieve_unrestricted() OR (region_path IS NOT NULL AND sieve_scope() @> region_path));
