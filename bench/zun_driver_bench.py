#!/usr/bin/python3
"""What the zunvm Zun driver adds on top of zunvmd's API, as ratios in one run.

One zunvmd (fake sandbox driver, so no VM time hides the overhead) serves both sides,
alternating round by round:
  direct: the REST calls zun-compute's driver makes, by hand with requests (create run=false
          and poll to Created, start and poll, exec, stop and poll, delete and poll to 404);
  driver: ZunvmDriver.create/start/execute_create+execute_run/stop/delete on Zun-shaped
          objects (the Zun stand-in of tests/python).
Both poll every 50 ms, so the ratio shows the driver's own cost (object handling, error
mapping, its extra GETs), not poll granularity. Prints medians and ratios; asserts nothing.

Usage: /usr/bin/python3 bench/zun_driver_bench.py [--rounds N]
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'python'))

import conftest  # noqa: E402  (sets up sys.path for zun / zunvm_zun, like the tests)
import requests  # noqa: E402
from zunvmd_proc import Zunvmd  # noqa: E402

HDR = {'OpenStack-API-Version': 'container 1.40'}
# One keep-alive session, as the driver's client has.
HTTP = requests.Session()
STEPS = ('create', 'start', 'exec', 'stop', 'delete')


def poll(url, done):
    while True:
        r = HTTP.get(url, headers=HDR, timeout=30)
        if done(r):
            return
        time.sleep(0.05)


def direct_round(base):
    t = {}
    s = time.monotonic()
    c = HTTP.post(base + '/containers?run=false', headers=HDR, timeout=30,
                      json={'image': 'busybox', 'command': ['sleep', '1000'], 'memory': '256'}).json()
    url = base + '/containers/' + c['uuid']
    settled = lambda r: r.status_code == 404 or (not r.json()['task_state'] and  # noqa: E731
                                                  r.json()['status'] not in ('Creating', 'Deleting'))
    poll(url, settled)
    t['create'] = time.monotonic() - s
    s = time.monotonic()
    HTTP.post(url + '/start', headers=HDR, timeout=30)
    poll(url, settled)
    t['start'] = time.monotonic() - s
    s = time.monotonic()
    HTTP.post(url + '/execute', params={'run': 'true', 'command': 'echo hi'}, headers=HDR,
                  timeout=60).json()
    t['exec'] = time.monotonic() - s
    s = time.monotonic()
    HTTP.post(url + '/stop', params={'timeout': 0}, headers=HDR, timeout=30)
    poll(url, settled)
    t['stop'] = time.monotonic() - s
    s = time.monotonic()
    HTTP.delete(url, params={'force': 'True'}, headers=HDR, timeout=30)
    poll(url, lambda r: r.status_code == 404)
    t['delete'] = time.monotonic() - s
    return t


def driver_round(drv, ctx):
    t = {}
    c = conftest.new_container(ctx, command=['sleep', '1000'], memory='256')
    s = time.monotonic()
    c = drv.create(ctx, c, {'repo': 'busybox', 'tag': 'latest', 'driver': 'docker'}, [], {})
    t['create'] = time.monotonic() - s
    s = time.monotonic()
    c = drv.start(ctx, c)
    t['start'] = time.monotonic() - s
    s = time.monotonic()
    drv.execute_run(drv.execute_create(ctx, c, 'echo hi', False), 'echo hi')
    t['exec'] = time.monotonic() - s
    s = time.monotonic()
    c = drv.stop(ctx, c, 0)
    t['stop'] = time.monotonic() - s
    s = time.monotonic()
    drv.delete(ctx, c, True)
    t['delete'] = time.monotonic() - s
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=30)
    args = ap.parse_args()
    from zunvm_zun import driver as zdriver
    import zun.conf
    CONF = zun.conf.CONF
    if not conftest.USING_REAL_ZUN and not CONF._args:
        CONF([], project='zun', default_config_files=[])
    CONF.set_override('host', 'bench-host')
    CONF.set_override('driver_list', [], group='volume')
    CONF.set_override('poll_interval', 0.05, group='zunvm')
    d = Zunvmd(driver='fake', config_text='[DEFAULT]\nsync_container_state_interval = 0\n').start()
    try:
        CONF.set_override('api_url', d.url, group='zunvm')
        drv = zdriver.ZunvmDriver()
        ctx = conftest.admin_context()
        base = d.url + '/v1'
        runs = {'direct': [], 'driver': []}
        for _ in range(args.rounds):
            runs['direct'].append(direct_round(base))
            runs['driver'].append(driver_round(drv, ctx))
        print('zun: %s; %d rounds, alternating; median seconds' %
              ('real' if conftest.USING_REAL_ZUN else 'stand-in', args.rounds))
        print('%-8s %10s %10s %8s' % ('step', 'direct', 'driver', 'ratio'))
        sums = [0.0, 0.0]
        for step in STEPS:
            a = statistics.median(r[step] for r in runs['direct'])
            b = statistics.median(r[step] for r in runs['driver'])
            sums = [sums[0] + a, sums[1] + b]
            print('%-8s %10.4f %10.4f %8.2f' % (step, a, b, b / a))
        # A round's own total is bimodal (a poll either finds the action done or sleeps 50 ms),
        # so the summary is the sum of the step medians.
        print('%-8s %10.4f %10.4f %8.2f' % ('sum', sums[0], sums[1], sums[1] / sums[0]))
    finally:
        d.stop()
        d.cleanup()


if __name__ == '__main__':
    main()
