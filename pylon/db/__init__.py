"""Pylon's database layer: the PostgreSQL backend with a cheap health check (``postgresql``),
telling an outage from a bug (``outage``) and the SQL functions the ORM lacks (``functions``)."""
