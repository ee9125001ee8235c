-- Claiming walks the queued jobs in the order they are handed out and stops after the
-- first few heads, so a backlog costs nothing per claim (the first version grouped every
-- active job by conversation on each claim).
CREATE INDEX jobs_ready ON jobs (priority DESC, id) WHERE state = 'queued';
