"""The few functions that touch the outside world: processes, git, the Docker engine."""
