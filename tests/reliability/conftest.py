from tests.reliability.faults import cache_down  # noqa: F401  (a fixture for the tests here)
