-- Periodic maintenance shared by every replica (pruning stale idempotency keys): when each task
-- last ran, by wall clock. A replica claims a due run by compare-and-set on last_run_at, so one
-- replica runs it per period however often the service restarts.
CREATE TABLE maintenance_runs (
    task TEXT PRIMARY KEY,
    last_run_at BIGINT NOT NULL
);
