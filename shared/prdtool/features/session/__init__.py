"""Session-level events: who the server thinks this connection is."""
