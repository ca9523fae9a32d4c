"""zun/image/glance/utils.py: the Glance calls of Zun's commit, through the client that
zun.common.clients.OpenStackClients(context).glance() returns (tests point it at a fake Glance
served over HTTP to the real glanceclient)."""
from zun.common import clients


def create_glanceclient(context):
    return clients.OpenStackClients(context).glance()


def create_image(context, image_name):
    return create_glanceclient(context).images.create(name=image_name)


def update_image(context, img_id, disk_format, container_format, tags):
    return create_glanceclient(context).images.update(
        img_id, disk_format=disk_format, container_format=container_format, tags=tags)


def upload_image_data(context, img_id, data):
    return create_glanceclient(context).images.upload(img_id, data)


def delete_image(context, img_id):
    return create_glanceclient(context).images.delete(img_id)
