-- An exact mean execution time: the runs that had a time are counted apart from all runs (a run
-- without `executionTime` counts in usage_count but not in the mean). Existing rows keep their
-- mean over usage_count runs, the divisor it was computed with.
ALTER TABLE handler_registry ADD COLUMN timed_count INTEGER NOT NULL DEFAULT 0;
UPDATE handler_registry SET timed_count = usage_count WHERE average_execution_time IS NOT NULL;
