-- Request budgets shared by every replica (`store::RateBudgets`): one token bucket per far
-- side (a Chatwoot installation), in integer units (60,000 a token, so a rate per minute
-- refills that many units a millisecond). `granted` is what the last take got, written by
-- the same statement so it can return it. PostgreSQL only: a SQLite store serves one
-- process and keeps its buckets in memory.
CREATE TABLE rate_budgets (
    name    TEXT   PRIMARY KEY,
    units   BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    granted BIGINT NOT NULL
);
