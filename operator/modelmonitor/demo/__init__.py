"""The local demo: a real model process and the walk-through of what ModelMonitor does."""
