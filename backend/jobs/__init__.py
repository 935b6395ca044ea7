"""Background jobs (index rebuild, model retraining), their cross-process lock and scheduler."""
