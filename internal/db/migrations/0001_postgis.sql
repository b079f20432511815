-- PostGIS for the region polygons, premise points and image footprints (SRID 4326, WGS-84).
-- On a managed server the extension is created by an administrator beforehand; then this is a
-- no-op for the application role.
CREATE EXTENSION IF NOT EXISTS postgis;
