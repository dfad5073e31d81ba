"""Feature areas, one package each: documents, editing, presence, conflicts, AI, session.

Each owns its payload models (``events.py``), its handlers (``handlers.py``, whose ``register``
puts its events on the router) and what storage and logic only it needs. ``prdtool.api`` finds the
areas by looking in this folder; areas never import each other.
"""
