-- Lanes: each job names the pool of workers that runs it (`store::Lane`), so an agent's
-- reply never waits for a worker behind a backlog of customer messages, nor the reverse.
-- Every job stored before keeps working: it is inbound unless it is an unfinished job
-- toward the platform (its JSON payload starts with its tag, serde's order).
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'inbound';
UPDATE jobs SET lane = 'outbound'
 WHERE state IN ('queued', 'running')
   AND (payload LIKE '{"job":"outbound"%' OR payload LIKE '{"job":"typing"%'
        OR payload LIKE '{"job":"upkeep"%');
-- A lane's claim walks its own queued jobs in hand-out order, as `jobs_ready` does for all:
-- a lane with nothing ready costs nothing however long the other lane's backlog.
CREATE INDEX jobs_ready_by_lane ON jobs (lane, priority DESC, id) WHERE state = 'queued';
