-- Documents and the workflow that moves them. A document with run_at set has automatic
-- work due; like a delivery, a claim moves run_at to the end of its lease.

CREATE TABLE workflows (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    levels TEXT NOT NULL,                 -- JSON: {"separation": [...], "classification": [...], "extraction": [...]}
    processing_target_seconds BIGINT,     -- sets each new document's sla_deadline; NULL: none
    classification_rules TEXT NOT NULL,   -- JSON: {"invoice": ["invoice", "total due"], ...}
    extraction_rules TEXT NOT NULL,       -- JSON: {"invoice": {"total": "Total:\\s*(\\S+)"}, ...}
    updated_at BIGINT NOT NULL
);

CREATE TABLE documents (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT,
    external_id TEXT,
    custom_fields TEXT NOT NULL,          -- JSON object
    status TEXT NOT NULL,                 -- pending, in_progress, done, failed
    workflow_step TEXT NOT NULL,          -- inbound, separation, classification, extraction, outbound
    state TEXT NOT NULL,                  -- where in the step: see documents/workflow.py
    pending_validation TEXT,              -- the ready-for-* topic the document waits on
    document_type TEXT,
    file_type TEXT,
    page_count INTEGER,
    content_text TEXT,
    extracted TEXT NOT NULL,              -- JSON object of extracted fields; never in a payload
    error TEXT,
    sla_deadline BIGINT,
    run_at BIGINT,
    locked_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX documents_tenant_updated ON documents (tenant_id, updated_at);
CREATE INDEX documents_tenant_external ON documents (tenant_id, external_id);
CREATE INDEX documents_tenant_status ON documents (tenant_id, status);
CREATE INDEX documents_due ON documents (run_at) WHERE run_at IS NOT NULL;

CREATE TABLE document_files (
    id {pk},
    document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    path TEXT NOT NULL,                   -- relative to the data dir
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX document_files_document ON document_files (document_id, position);
