"""How the monitor edits the user's workload (pure: dicts in, JSON patches out)."""
