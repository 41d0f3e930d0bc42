// A dochooks webhook receiver in Express: verifies each delivery with the
// `standardwebhooks` package on the raw body, handles it once, and answers 200
// to a repeat of a `webhook-id` it has already handled (delivery is at least once).
// On start-up it catches up from the event feed (GET /v1/events) from the cursor it
// stored, when DOCHOOKS_API_URL and DOCHOOKS_TOKEN are set.
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
const apiUrl = process.env.DOCHOOKS_API_URL; // with a token: catch up from the event feed on start-up
const token = process.env.DOCHOOKS_TOKEN;
const cursorFile = process.env.FEED_CURSOR_FILE || "feed-cursor.txt"; // the feed's cursor after what was handled

function handle(payload, webhookId, source = "webhook") {
  // Your work goes here: the payload says which document moved; GET /v1/documents/{id} has the rest.
  const documentId = payload.attributes?.document_id ?? payload.id;
  console.log(`handled ${payload.topic} document=${documentId} webhook-id=${webhookId} from the ${source}`);
  handled.push({ webhook_id: webhookId, topic: payload.topic, document_id: documentId, source });
}

function remember(ids) {
  const fresh = ids.filter((id) => !processed.has(id));
  fresh.forEach((id) => processed.add(id));
  if (processedFile && fresh.length) fs.appendFileSync(processedFile, fresh.map((id) => id + "\n").join(""));
}

// What happened while this app was down: the feed's events after the stored cursor, each
// handled unless one of its ids was (its own, or a delivery's webhook-id). A real app
// keeps the ids and the cursor in its database, in the transaction of the work.
async function catchUp() {
  let after = fs.existsSync(cursorFile) ? fs.readFileSync(cursorFile, "utf8").trim() : "";
  let done = 0;
  let skipped = 0;
  for (;;) {
    const query = new URLSearchParams({ "page[size]": "100", ...(after ? { after } : {}) });
    const answer = await fetch(`${apiUrl}/v1/events?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    const doc = await answer.json();
    if (answer.status === 410) {
      // The cursor is older than the feed keeps: go on from where it says; re-sync documents through the API.
      after = doc.errors[0].meta.resume_from;
      console.log(`the feed no longer holds events after the stored cursor; going on from ${after}`);
      continue;
    }
    if (!answer.ok) throw new Error(`GET /v1/events: ${answer.status} ${JSON.stringify(doc.errors)}`);
    for (const event of doc.data) {
      const ids = [event.id, ...event.attributes.request_ids];
      if (ids.some((id) => processed.has(id))) skipped += 1;
      else {
        handle({ ...event.attributes.payload, request_id: event.id }, event.id, "feed");
        done += 1;
      }
      remember(ids); // a later delivery of it (a retry, a resend) is then a repeat
    }
    after = doc.meta.cursor;
    fs.writeFileSync(cursorFile, after); // after the whole page: a crash repeats at most a page, which the ids drop
    if (doc.data.length < 100) break; // caught up for now
  }
  console.log(`caught up from the feed: ${done} handled, ${skipped} already processed`);
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
  remember([webhookId]);
  return res.status(200).json({ status: "handled" });
});

app.get("/handled", (req, res) => res.json(handled));

app.listen(port, host, () => {
  console.log(`listening on http://${host}:${port}/webhooks`);
  if (apiUrl && token) catchUp().catch((err) => console.log(`could not catch up from the feed: ${err.message}`));
});
