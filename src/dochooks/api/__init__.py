"""The HTTP API: JSON:API over FastAPI. It translates HTTP to calls of the domain modules."""
