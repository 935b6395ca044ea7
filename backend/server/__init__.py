"""Processes and the HTTP edge: uvicorn's command line, request limits, security headers."""
