"""What the integrations' URL checks share: which hosts are this machine's."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1``: where ``http://`` is allowed, for a local server
    (a local Mattermost, the fake Jira), since nothing leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
