-- How long a tenant keeps its finished and failed documents, in days: NULL follows the
-- service's DOCHOOKS_DOCUMENT_RETENTION_DAYS, 0 keeps them for good.
ALTER TABLE workflows ADD COLUMN document_retention_days INTEGER;
