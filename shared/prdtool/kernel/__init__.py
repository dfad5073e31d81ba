"""The kernel: settings, errors, logging, the API Gateway event, auth and the one authorizer, the
Socket.IO/Engine.IO/native framing, the router, the one sender, tables and DynamoDB conditions.

Imports nothing from the engine or the features (checked by import-linter in `make test`)."""
