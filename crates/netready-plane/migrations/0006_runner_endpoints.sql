-- netready plane, schema 6: the fleet view. One row per runner and endpoint of the runner's newest
-- report, written by the report writer beside `runner_state`, so that "how many runners reach
-- logs in eu-west-3, and what do the ones that do not share" is a GROUP BY over this table rather
-- than a read of every report body. Where the task sits (subnet, zone, VPC, account) repeats on
-- each of its endpoints' rows: five rows per runner, and no join for the grouping.
-- `phase`/`outcome` name the first thing that failed (`dns`/`nxdomain`, `tcp`/`timeout`,
-- `tls`/`reset`, `address`/`not_dialled`), NULL when the endpoint is fully reachable. Columns a
-- report does not carry are NULL: the VPC and subnet id come only with the AWS API diagnosis
-- (schema version 3), the zone, subnet CIDR and account from task metadata.
-- The writer replaces a runner's rows only when its newest report starts a run (differs from the
-- one before in more than timings); freshness comes from `runner_state`. Existing runners get their
-- rows with their next report (every 5 minutes by default): their fingerprints are cleared below,
-- so that report starts a run.
CREATE TABLE runner_endpoints (
    runner_id          TEXT NOT NULL,
    service            TEXT NOT NULL,
    checked_at_ms      BIGINT NOT NULL,
    received_at        BIGINT NOT NULL,
    region             TEXT NOT NULL,
    reachability       TEXT NOT NULL,
    access_type        TEXT NOT NULL,
    phase              TEXT,
    outcome            TEXT,
    subnet_cidr        TEXT,
    subnet_id          TEXT,
    availability_zone  TEXT,
    vpc_id             TEXT,
    account_id         TEXT,
    hint               TEXT,
    finding            TEXT,
    PRIMARY KEY (runner_id, service)
);
-- The counts per service, region and access type read this index and the runners' freshness.
CREATE INDEX runner_endpoints_reach ON runner_endpoints (service, region, access_type, reachability, runner_id);
-- The degraded rows, for the grouping by cause.
CREATE INDEX runner_endpoints_degraded ON runner_endpoints (service, region, reachability)
    WHERE reachability <> 'full';
UPDATE runner_state SET fingerprint = '';
