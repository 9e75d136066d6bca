"""What operators see: Prometheus metrics, structured logs and request ids (README, "Operations")."""
