"""hybrid_data: the Dagster-free core that plans, synthesizes, blends, checks and trains."""
