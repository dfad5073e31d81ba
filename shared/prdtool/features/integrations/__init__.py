"""Integrations: the chat channels a PRD reports to (Mattermost), and the notifier that posts to them."""
