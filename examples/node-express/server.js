// A dochooks webhook receiver in Express: verifies each delivery with the
// `standardwebhooks` package on the raw body, handles it once, and answers 200
// to a repeat of a `webhook-id` it has already handled (delivery is at least once).
//
//   WEBHOOK_SECRET=whsec_... PORT=3000 node server.js
"use strict";

const fs = require("node:fs");
const express = require("express");
const { Webhook, WebhookVerificationError } = require("standardwebhooks");

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("Set WEBHOOK_SECRET to the webhook's signing secret (whsec_...).");
  process.exit(2);
}
const webhook = new Webhook(secret); // checks the signature(s) and the 5-minute timestamp tolerance
const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "127.0.0.1";
const processedFile = process.env.PROCESSED_IDS_FILE; // optional: remember handled ids across restarts

// The webhook-ids already handled. A real app keeps them in its database (a unique
// column), for longer than dochooks retries a delivery (about 17 hours, or more by hand).
const processed = new Set(
  processedFile && fs.existsSync(processedFile) ? fs.readFileSync(processedFile, "utf8").split("\n").filter(Boolean) : [],
);
const handled = []; // what this process handled, for GET /handled

function handle(payload, webhookId) {
  // Your work goes here: the payload says which document moved; GET /v1/documents/{id} has the rest.
  const documentId = payload.attributes?.document_id ?? payload.id;
  console.log(`handled ${payload.topic} document=${documentId} webhook-id=${webhookId}`);
  handled.push({ webhook_id: webhookId, topic: payload.topic, document_id: documentId });
}

const app = express();

// The signature covers the exact bytes sent: take the body raw, never parsed and re-serialized.
app.post("/webhooks", express.raw({ type: "*/*" }), (req, res) => {
  const webhookId = req.get("webhook-id");
  if (!webhookId || !req.get("webhook-timestamp") || !req.get("webhook-signature")) {
    return res.status(400).json({ error: "missing webhook-id, webhook-timestamp or webhook-signature" });
  }
  let payload;
  try {
    payload = webhook.verify(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), req.headers);
  } catch (err) {
    if (err instanceof WebhookVerificationError) {
      console.log(`refused webhook-id=${webhookId}: ${err.message}`);
      return res.status(401).json({ error: err.message });
    }
    return res.status(400).json({ error: "the body is not JSON" });
  }
  if (processed.has(webhookId)) {
    console.log(`ignored repeat webhook-id=${webhookId}`);
    return res.status(200).json({ status: "already handled" });
  }
  if (!payload || typeof payload.topic !== "string") {
    return res.status(400).json({ error: "the body is not a dochooks payload" });
  }
  handle(payload, webhookId);
  processed.add(webhookId);
  if (processedFile) fs.appendFileSync(processedFile, webhookId + "\n");
  return res.status(200).json({ status: "handled" });
});

app.get("/handled", (req, res) => res.json(handled));

app.listen(port, host, () => console.log(`listening on http://${host}:${port}/webhooks`));
