"""zun/image/glance/driver.py: GlanceDriver, the concrete image driver zun-compute's commit
passes to the container driver. Same method signatures and defaults as Zun's class (that is
the point of this stand-in: a call that Zun's class would refuse fails here too); failures
become ZunException as there."""
from zun.common import exception
from zun.image.glance import utils


class GlanceDriver(object):
    def create_image(self, context, image_name):
        try:
            return utils.create_image(context, image_name)
        except Exception as e:
            raise exception.ZunException(str(e))

    def update_image(self, context, img_id, disk_format='qcow2', container_format='docker',
                     tag=None):
        try:
            return utils.update_image(context, img_id, disk_format, container_format,
                                      tags=[tag] if tag else [])
        except Exception as e:
            raise exception.ZunException(str(e))

    def upload_image_data(self, context, img_id, data):
        try:
            return utils.upload_image_data(context, img_id, data)
        except Exception as e:
            raise exception.ZunException(str(e))

    def delete_committed_image(self, context, img_id):
        try:
            return utils.delete_image(context, img_id)
        except Exception as e:
            raise exception.ZunException(str(e))
