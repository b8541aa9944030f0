"""ModelMonitor: a Kubernetes operator that keeps deployed machine-learning models accurate, fair and fast."""

__version__ = "0.1.0"
