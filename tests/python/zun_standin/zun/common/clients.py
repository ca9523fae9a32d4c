"""zun/common/clients.py: OpenStackClients; glance() needs Keystone's catalog in Zun, so here
it must be replaced by the test (it points the real glanceclient at a fake Glance)."""


class OpenStackClients(object):
    def __init__(self, context):
        self.context = context

    def glance(self):
        raise RuntimeError('no Glance in the stand-in: the test must provide one')
