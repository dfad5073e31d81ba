"""Documents and access: create, share, update metadata, join and leave a document's room."""
