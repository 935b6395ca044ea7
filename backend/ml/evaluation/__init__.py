"""Offline evaluation: datasets, protocols, peers, one experiment driver and the report."""
