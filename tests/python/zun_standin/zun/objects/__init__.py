"""zun.objects: the Container object, kept in an in-memory table instead of Zun's database.

Like an oslo.versionedobjects object it tracks which fields changed since the last save;
save() writes the changes to the table (copies: a loaded object never aliases the stored
one). `Container.dbapi` is the table, so tests can look at what was saved.
"""
import copy
import threading

FIELDS = (
    'id', 'container_id', 'uuid', 'name', 'project_id', 'user_id', 'image', 'cpu',
    'cpu_policy', 'cpuset', 'memory', 'command', 'status', 'status_reason', 'task_state',
    'environment', 'workdir', 'auto_remove', 'ports', 'hostname', 'labels', 'addresses',
    'image_pull_policy', 'host', 'restart_policy', 'status_detail', 'interactive', 'tty',
    'image_driver', 'websocket_url', 'websocket_token', 'security_groups', 'runtime',
    'pci_devices', 'disk', 'auto_heal', 'started_at', 'exposed_ports', 'exec_instances',
    'privileged', 'healthcheck', 'registry_id', 'registry', 'annotations', 'cni_metadata',
    'entrypoint', 'created_at', 'updated_at')


class _Table(object):
    def __init__(self):
        self.rows = {}
        self.lock = threading.Lock()
        self.next_id = 1


class Container(object):
    VERSION = '1.44'
    fields = FIELDS
    dbapi = _Table()

    def __init__(self, context=None, **kwargs):
        object.__setattr__(self, '_context', context)
        object.__setattr__(self, '_changed', set())
        for f in FIELDS:
            object.__setattr__(self, f, None)
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __setattr__(self, name, value):
        if name not in FIELDS:
            raise AttributeError("Container has no field %s" % name)
        object.__setattr__(self, name, value)
        self._changed.add(name)

    def obj_what_changed(self):
        return set(self._changed)

    def obj_get_changes(self):
        return {f: getattr(self, f) for f in self._changed}

    def obj_reset_changes(self, fields=None):
        if fields is None:
            self._changed.clear()
        else:
            self._changed.difference_update(fields)

    def obj_clone(self):
        return copy.deepcopy(self)

    def _row(self):
        return {f: copy.deepcopy(getattr(self, f)) for f in FIELDS}

    @classmethod
    def _from_row(cls, context, row):
        c = cls(context)
        for f, v in row.items():
            object.__setattr__(c, f, copy.deepcopy(v))
        c.obj_reset_changes()
        return c

    def create(self, context):
        with self.dbapi.lock:
            if self.uuid in self.dbapi.rows:
                raise ValueError("duplicate uuid %s" % self.uuid)
            object.__setattr__(self, 'id', self.dbapi.next_id)
            self.dbapi.next_id += 1
            self.dbapi.rows[self.uuid] = self._row()
        self.obj_reset_changes()

    def save(self, context=None):
        with self.dbapi.lock:
            row = self.dbapi.rows[self.uuid]
            for f in self._changed:
                row[f] = copy.deepcopy(getattr(self, f))
        self.obj_reset_changes()

    def destroy(self, context=None):
        with self.dbapi.lock:
            self.dbapi.rows.pop(self.uuid, None)
        self.obj_reset_changes()

    def refresh(self, context=None):
        fresh = self.get_by_uuid(context, self.uuid)
        for f in FIELDS:
            object.__setattr__(self, f, getattr(fresh, f))
        self.obj_reset_changes()

    @classmethod
    def get_by_uuid(cls, context, uuid):
        with cls.dbapi.lock:
            row = cls.dbapi.rows.get(uuid)
        if row is None:
            from zun.common import exception
            raise exception.ContainerNotFound(container=uuid)
        return cls._from_row(context, row)

    @classmethod
    def list(cls, context, limit=None, marker=None, sort_key=None, sort_dir=None,
             filters=None):
        with cls.dbapi.lock:
            rows = list(cls.dbapi.rows.values())
        out = []
        for row in sorted(rows, key=lambda r: r['id']):
            ok = True
            for key, want in (filters or {}).items():
                have = row.get(key)
                if isinstance(want, (list, tuple, set)):
                    ok = ok and have in want
                else:
                    ok = ok and have == want
            if ok:
                out.append(cls._from_row(context, row))
        return out[:limit] if limit else out

    @classmethod
    def list_by_host(cls, context, host):
        return cls.list(context, filters={'host': host})


class Capsule(object):
    """Only what the status sync needs: zun-compute lists capsules and passes them to
    update_containers_states as well (none exist in the stand-in)."""

    @classmethod
    def list(cls, context, **kwargs):
        return []


class ContainerAction(object):
    """Container actions in memory: (uuid, action name, project) rows, as action_start makes."""
    rows = []

    @classmethod
    def action_start(cls, context, container_uuid, action_name, want_result=True):
        cls.rows.append((container_uuid, action_name, getattr(context, 'project_id', None)))

    @classmethod
    def get_by_container_uuid(cls, context, container_uuid):
        return [r for r in cls.rows if r[0] == container_uuid]


def register_all():
    return None
