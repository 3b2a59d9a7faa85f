-- Temporal's PostgreSQL visibility schema (v12, server <= 1.29.1) casts Text search attributes with `::tsvector`,
-- which parses the value as a tsvector *literal*: a value with a ':' (our RollbackTrigger, e.g. "v2.1.0 fails
-- /health: 503") fails the whole executions_visibility write, and the closed rollback stays "Running" in every list
-- (upstream: temporalio/temporal pull request 11085). This rebuilds Text01..Text03 with to_tsvector('simple', ...),
-- which tokenizes any text; `Text = "word"` queries (@@ 'word'::tsquery) keep working. Idempotent; run on the
-- temporal_visibility database after `temporal-sql-tool update-schema` (scripts/cluster.ts does).
DO $$
DECLARE
  col text;
BEGIN
  FOREACH col IN ARRAY ARRAY['text01', 'text02', 'text03'] LOOP
    IF NOT EXISTS (
      SELECT 1 FROM information_schema.columns
       WHERE table_name = 'executions_visibility' AND column_name = col
         AND generation_expression LIKE '%to_tsvector%'
    ) THEN
      EXECUTE format('ALTER TABLE executions_visibility DROP COLUMN %I', col);
      EXECUTE format(
        'ALTER TABLE executions_visibility ADD COLUMN %I TSVECTOR GENERATED ALWAYS AS '
        '(to_tsvector(''simple''::regconfig, search_attributes->>%L)) STORED',
        col, initcap(col));
      EXECUTE format('CREATE INDEX %I ON executions_visibility USING GIN (namespace_id, %I)',
        'by_text_' || right(col, 2), col);
    END IF;
  END LOOP;
END $$;
