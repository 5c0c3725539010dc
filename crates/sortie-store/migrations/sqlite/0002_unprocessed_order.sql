-- The planner lists unprocessed deliveries ORDER BY received_at_ms, forge, id. An index on
-- received_at_ms alone makes the database sort every unprocessed row (bodies included) for the
-- tie-breakers; cover the whole sort key instead.
DROP INDEX IF EXISTS deliveries_unprocessed;
CREATE INDEX deliveries_unprocessed ON deliveries (received_at_ms, forge, id) WHERE processed_at_ms IS NULL;
