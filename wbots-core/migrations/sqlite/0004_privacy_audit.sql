-- The audit trail of privacy actions: exports, deletions on request, Meta's data-deletion
-- callback, retention runs. `subject` is a keyed hash of the person's scope, never the id
-- itself, so the record of a deletion does not name the deleted person and data deletion
-- leaves these rows alone. Times in ms, as elsewhere. Same columns as PostgreSQL's.
CREATE TABLE privacy_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    action       TEXT    NOT NULL
                 CHECK (action IN ('export', 'forget', 'data_deletion', 'retention')),
    requested_by TEXT    NOT NULL,
    subject      TEXT,
    removed      TEXT    NOT NULL,
    outcome      TEXT    NOT NULL
);
