"""Versions in git and the approval workflow."""
