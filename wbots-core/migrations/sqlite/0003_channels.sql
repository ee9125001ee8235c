-- Connected channels: one row per platform account, credentials sealed by the bridge
-- (never in clear here). A removed channel stays as a row without credentials, so a replica
-- asking "what changed since revision N" sees the removal. Same columns as PostgreSQL's.
CREATE TABLE channels (
    kind             TEXT    NOT NULL,
    account          TEXT    NOT NULL,
    page_id          TEXT,
    login            TEXT    NOT NULL CHECK (login IN ('facebook', 'instagram')),
    chatwoot_url     TEXT,
    chatwoot_account INTEGER,
    chatwoot_inbox   INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'flagged', 'disconnected')),
    status_reason    TEXT,
    token_expires_at INTEGER,
    connected_by     TEXT    NOT NULL,
    connected_at     INTEGER NOT NULL,
    credentials      BLOB,
    removed          BOOLEAN NOT NULL DEFAULT FALSE,
    revision         INTEGER NOT NULL,
    PRIMARY KEY (kind, account)
) WITHOUT ROWID;

CREATE INDEX channels_by_revision ON channels (revision);

-- The store-wide revision counter: every channel write takes the next value in its
-- transaction, so revisions commit in order.
CREATE TABLE channel_revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO channel_revision (id, value) VALUES (1, 0);
