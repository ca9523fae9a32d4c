"""Zun's status and task-state names (zun/common/consts.py)."""
ERROR = 'Error'
RUNNING = 'Running'
STOPPED = 'Stopped'
PAUSED = 'Paused'
UNKNOWN = 'Unknown'
CREATING = 'Creating'
CREATED = 'Created'
DELETED = 'Deleted'
DELETING = 'Deleting'
REBUILDING = 'Rebuilding'
DEAD = 'Dead'
RESTARTING = 'Restarting'
CONTAINER_STATUSES = (ERROR, RUNNING, STOPPED, PAUSED, UNKNOWN, CREATING, CREATED, DELETED,
                      DELETING, REBUILDING, DEAD, RESTARTING)

IMAGE_PULLING = 'image_pulling'
CONTAINER_CREATING = 'container_creating'
CONTAINER_STARTING = 'container_starting'
CONTAINER_DELETING = 'container_deleting'
CONTAINER_STOPPING = 'container_stopping'
CONTAINER_REBOOTING = 'container_rebooting'
CONTAINER_PAUSING = 'container_pausing'
CONTAINER_UNPAUSING = 'container_unpausing'
CONTAINER_KILLING = 'container_killing'
CONTAINER_REBUILDING = 'container_rebuilding'

NAME_PREFIX = 'zun-'
