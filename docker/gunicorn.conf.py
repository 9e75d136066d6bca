"""gunicorn settings the command line does not carry: prometheus-client's multiprocess mode.

Every worker writes its metric samples to files in PROMETHEUS_MULTIPROC_DIR (the entrypoint empties
it at start); /metrics sums them. A dead worker's files are marked so its live gauges drop out.
"""

from prometheus_client import multiprocess


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
