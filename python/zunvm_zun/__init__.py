"""OpenStack Zun container driver that runs every container in its own zunvmd VM.

zun-compute loads ``zunvm_zun.driver.ZunvmDriver`` through the ``zun.container.driver``
and ``zun.capsule.driver`` entry points (``[DEFAULT] container_driver = zunvm``).
"""
