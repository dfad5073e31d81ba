"""AI: drafting with a model (``ai:generate``), steering its stream, and the worker that streams it."""
