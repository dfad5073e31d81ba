"""The engine: positions, the CRDT document, the update log, snapshots and compaction, rooms, the
edit pipeline and the one way to carry a position through later edits.

Built on the kernel; imports nothing from the features."""
