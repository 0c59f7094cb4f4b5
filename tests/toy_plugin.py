"""A HARNESS_PLUGINS module: importing it registers the toy tasks and models."""
from tests import toy_tasks

toy_tasks.register()
