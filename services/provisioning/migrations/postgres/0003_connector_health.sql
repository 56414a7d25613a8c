-- Health of each vendor connector: 'misconfigured' while the vendor refuses our credentials or
-- setup (jobs wait on a slow probe), 'ok' once a call is accepted again. One staff alert per
-- change, not per job.
CREATE TABLE IF NOT EXISTS provisioning_connector_health (
    connector TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    vendor_code TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    changed_at BIGINT NOT NULL
);
