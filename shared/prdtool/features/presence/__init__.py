"""Presence: who is in a document, where their cursor is, and whether they are there at all."""
