-- Ordered delivery, opt-in per webhook: a webhook with `ordered` gets a document's topics in
-- workflow order. Each of its deliveries of a document carries that document in
-- ordered_document_id (NULL for every other delivery: webhooks not ordered, test sends,
-- operational topics), and a claim holds one back while an earlier delivery (lower event id)
-- of the same document to the same webhook is still pending (db/claims.py, delivery/leases.py).
ALTER TABLE webhooks ADD COLUMN ordered BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE deliveries ADD COLUMN ordered_document_id BIGINT;
-- The claim's look for an earlier pending delivery: only ordered deliveries are in it, so
-- the rest of the queue neither writes nor reads it.
CREATE INDEX deliveries_ordered ON deliveries (webhook_id, ordered_document_id, event_id)
    WHERE status = 'pending' AND ordered_document_id IS NOT NULL;
