"""Real-time editing: operations in, ``operation:applied`` out, and catching up after a gap."""
