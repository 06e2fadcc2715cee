"""Celery settings of the hybrid_data workers, read from the environment by hybrid_data.deployment.

`celery -A dagster_celery.app worker` imports a module of this name when it is on the path (the Procfile puts
deploy/ first on PYTHONPATH), so workers and the runs that submit steps to them share one configuration.
"""

from hybrid_data.deployment import celery_settings, require_cluster_settings

require_cluster_settings()
globals().update(celery_settings())
