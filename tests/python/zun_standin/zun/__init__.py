"""A minimal stand-in for the parts of OpenStack Zun that zunvm_zun imports.

Zun is not packaged for Debian, so the driver tests put this directory on sys.path when the
real `zun` cannot be imported. Names, signatures and attributes follow Zun (stable/zed); the
behaviour is only what the driver and its tests rely on. It is written for these tests, not
copied from Zun. Run the tests with ZUNVM_ZUN_SRC=<a Zun checkout> to use the real classes.
"""
ZUNVM_STANDIN = True
