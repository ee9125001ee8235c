-- Connected channels: one row per platform account, credentials sealed by the bridge
-- (never in clear here). A removed channel stays as a row without credentials, so a replica
-- asking "what changed since revision N" sees the removal. Same columns as SQLite's.
CREATE TABLE channels (
    kind             TEXT COLLATE "C" NOT NULL,
    account          TEXT COLLATE "C" NOT NULL,
    page_id          TEXT,
    login            TEXT    NOT NULL CHECK (login IN ('facebook', 'instagram')),
    chatwoot_url     TEXT,
    chatwoot_account BIGINT,
    chatwoot_inbox   BIGINT  NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('active', 'flagged', 'disconnected')),
    status_reason    TEXT,
    token_expires_at BIGINT,
    connected_by     TEXT    NOT NULL,
    connected_at     BIGINT  NOT NULL,
    credentials      BYTEA,
    removed          BOOLEAN NOT NULL DEFAULT FALSE,
    revision         BIGINT  NOT NULL,
    PRIMARY KEY (kind, account)
);

CREATE INDEX channels_by_revision ON channels (revision);

-- The store-wide revision counter: every channel write takes the next value, and the row
-- lock it takes is held until commit, so writers commit in revision order and a replica
-- that saw revision N has seen every change before it.
CREATE TABLE channel_revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO channel_revision (id, value) VALUES (1, 0);
