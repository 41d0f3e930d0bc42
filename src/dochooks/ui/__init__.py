"""The web UI: server-rendered pages for webhooks, their delivery log, and documents."""
