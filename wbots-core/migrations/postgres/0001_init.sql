-- The durable job queue and the links between platform and inbox objects.
-- Times are milliseconds since the epoch, as in the SQLite schema, so both stores mean the
-- same thing by every column.

CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    ordering_key    TEXT    NOT NULL,
    scope           TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Claims so far, takeovers included: a job claimed before may have had side effects.
    claims          INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    payload         TEXT,
    created_at      BIGINT  NOT NULL,
    not_before      BIGINT  NOT NULL,
    lease_until     BIGINT,
    lease_token     TEXT
);

-- The head of each conversation's queue is found through this index; finished jobs leave it.
CREATE INDEX jobs_active ON jobs (ordering_key, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_scope ON jobs (scope) WHERE scope IS NOT NULL;

CREATE TABLE links (
    kind  TEXT NOT NULL,
    -- Byte order ("C"), so prefix scans use the primary key and order as Rust strings do.
    key   TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    scope TEXT,
    PRIMARY KEY (kind, key)
);

CREATE INDEX links_by_scope ON links (scope) WHERE scope IS NOT NULL;
