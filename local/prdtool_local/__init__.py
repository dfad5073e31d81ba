"""prdtool-local: the whole SAM application on one machine, with no AWS account and no Docker.

Not deployed. It reads ``template.yaml`` and runs the same handlers the stack runs, behind an
emulation of API Gateway's WebSocket API, with AWS services embedded (moto in server mode).
"""
