"""The inbox: a user's notifications (mentions now; approvals and versions later), listed and marked read."""
