"""Pylon's database layer: the PostgreSQL backend with a cheap health check (``postgresql``) and
telling an outage from a bug (``outage``)."""
