"""The project's core: what services in every app share, with no HTTP in it."""
