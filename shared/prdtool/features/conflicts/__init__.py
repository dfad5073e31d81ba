"""Conflicts: detected when a stale op meets a concurrent one (in the engine), resolved here by one of their authors."""
