"""The event feed: every event of a tenant, readable in commit order from a cursor."""
