"""Recommender core: models, encoders, index store, blender and metrics. No web framework here."""
