"""prdtool: the core of the PRD collaboration backend, shared by every Lambda function as a layer."""
