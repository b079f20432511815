-- Credit listing (联合惩戒, 失信惩戒名单): issue 14. A responsible person of a closed case
-- (site_persons, 0022) is proposed for listing by a coordinator; the city office approves or
-- rejects (internal/tips transitions.go, the listing's workflow beside the tip's); the approved
-- ones make the register the city exports (CSV/XLSX) for the credit system. A row is visible and
-- writable exactly when its site is (sieve_site_visible); who may decide is the permission of
-- the route and of the move (accounts.PermDecideListing), checked in Go. One proposal per person
-- is open or approved at a time.
CREATE TABLE credit_listings (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  site_id          bigint NOT NULL REFERENCES sites (id),
  person_id        bigint NOT NULL REFERENCES site_persons (id),
  status           text   NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'rejected')),
  reason           text   NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  decision_reason  text   NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 500),
  proposed_by      bigint REFERENCES users (id),
  decided_by       bigint REFERENCES users (id),
  decided_at       timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX credit_listings_person ON credit_listings (person_id) WHERE status IN ('proposed', 'approved');
CREATE INDEX credit_listings_status ON credit_listings (status, id);
CREATE INDEX credit_listings_site ON credit_listings (site_id);

ALTER TABLE credit_listings ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_listings FORCE ROW LEVEL SECURITY;
CREATE POLICY credit_listings_read ON credit_listings FOR SELECT USING (sieve_site_visible(site_id));
CREATE POLICY credit_listings_insert ON credit_listings FOR INSERT WITH CHECK (sieve_site_visible(site_id));
CREATE POLICY credit_listings_update ON credit_listings FOR UPDATE
  USING (sieve_site_visible(site_id)) WITH CHECK (sieve_site_visible(site_id));
SELECT sieve_audit_table('credit_listings');
