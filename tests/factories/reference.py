"""The payload of the product page (use-webhooks), written out from its example, not from our code."""

from __future__ import annotations

import re

# The reference's example, key for key.
TOP_LEVEL = {"id", "type", "attributes", "request_id", "topic"}
ATTRIBUTES = {
    "status",
    "tenant_id",
    "sla_deadline",
    "custom_fields",
    "external_id",
    "created_at",
    "updated_at",
    "document_id",
}
# "2021-05-12T10:05:46.229Z": date, time to the millisecond, UTC as Z.
REFERENCE_TIME = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
# "ef083852541ff078340a516432aee2f4"
REQUEST_ID = re.compile(r"\A[0-9a-f]{32}\Z")
