"""A small client of zunvmd's REST API (the Zun container API v1 plus zunvm extensions).

Contract: every method returns decoded JSON (or text/bytes where noted) or raises
``ApiError`` (zunvmd answered non-2xx; carries the HTTP status and Zun's error envelope
fields) or ``Unreachable`` (no answer: connection refused, timeout, TLS failure).  No Zun
imports here, so it is usable and testable without Zun.  Thread safety: one ``requests``
session per client; zun-compute runs eventlet green threads, and requests' session is safe
to share between them for these simple calls.
"""

import json
import time
import urllib.parse

import requests

API_VERSION = 'container 1.40'


class ApiError(Exception):
    """zunvmd answered with a non-2xx status."""

    def __init__(self, status, code, title, detail):
        super().__init__(detail or title or 'HTTP %d' % status)
        self.status = status
        self.code = code or ''
        self.title = title or ''
        self.detail = detail or title or ''


class Unreachable(Exception):
    """zunvmd did not answer."""


def _error_from(resp):
    code = title = detail = ''
    try:
        body = resp.json()
        err = body['errors'][0]
        code, title, detail = err.get('code', ''), err.get('title', ''), err.get('detail', '')
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        detail = resp.text[:500]
    return ApiError(resp.status_code, str(code), str(title), str(detail))


def quote(segment):
    """One path segment, '/' included, percent-encoded."""
    return urllib.parse.quote(str(segment), safe='')


class Client(object):
    """``token``: a fixed X-Auth-Token (auth_strategy = token), or an object with
    ``get_token()`` and ``invalidate()`` (a keystoneauth session, auth_strategy = keystone):
    its token is sent on every request, and a 401 has it invalidated and the request sent once
    more with a new token (a revoked or expired token is replaced, not an outage)."""

    def __init__(self, api_url, token='', timeout=60.0, ca_file='', poll_interval=0.2):
        self.base = api_url.rstrip('/') + '/v1'
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.session = requests.Session()
        self.session.headers['OpenStack-API-Version'] = API_VERSION
        self.session.headers['User-Agent'] = 'zunvm-zun-driver'
        self.token_source = token if hasattr(token, 'get_token') else None
        if token and not self.token_source:
            self.session.headers['X-Auth-Token'] = token
        if ca_file:
            self.session.verify = ca_file

    def _token_header(self):
        try:
            return {'X-Auth-Token': self.token_source.get_token()}
        except Exception as e:  # keystoneauth's errors: Keystone down, bad credentials
            raise Unreachable('no Keystone token for zunvmd: %s' % e)

    def request(self, method, path, params=None, body=None, data=None, timeout=None,
                headers=None, raw=False):
        url = self.base + path
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body)
            hdrs['Content-Type'] = 'application/json'
        for attempt in (1, 2):
            if self.token_source:
                hdrs.update(self._token_header())
            try:
                resp = self.session.request(method, url, params=params, data=data, headers=hdrs,
                                            timeout=timeout or self.timeout)
            except requests.RequestException as e:
                raise Unreachable('zunvmd at %s did not answer: %s' % (self.base, e))
            replayable = data is None or isinstance(data, (bytes, str))  # not a consumed stream
            if resp.status_code != 401 or not self.token_source or attempt == 2 or not replayable:
                break
            self.token_source.invalidate()
        if not 200 <= resp.status_code < 300:
            raise _error_from(resp)
        if raw:
            return resp.content
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise ApiError(resp.status_code, 'container.bad-response', 'Bad response',
                           'zunvmd answered %s %s with a body that is not JSON'
                           % (method, path))

    # --- containers -------------------------------------------------------------------
    def create(self, spec, run=False):
        return self.request('POST', '/containers', params={'run': 'true' if run else 'false'},
                            body=spec)

    def get(self, uuid):
        return self.request('GET', '/containers/' + quote(uuid))

    def list_all(self):
        """Every container zunvmd has, following `next` links."""
        out, marker = [], None
        for _ in range(100000):
            params = {'limit': 1000}
            if marker:
                params['marker'] = marker
            page = self.request('GET', '/containers', params=params)
            items = page.get('containers') or []
            out.extend(items)
            if not page.get('next') or not items:
                return out
            marker = items[-1]['uuid']
        return out

    def action(self, uuid, action, params=None, body=None, timeout=None):
        return self.request('POST', '/containers/%s/%s' % (quote(uuid), action),
                            params=params, body=body, timeout=timeout)

    def query(self, uuid, what, params=None, timeout=None):
        return self.request('GET', '/containers/%s/%s' % (quote(uuid), what),
                            params=params, timeout=timeout)

    def patch(self, uuid, body):
        return self.request('PATCH', '/containers/' + quote(uuid), body=body)

    def delete(self, uuid, force=False, stop=False):
        params = {}
        if force:
            params['force'] = 'True'
        if stop:
            params['stop'] = 'True'
        return self.request('DELETE', '/containers/' + quote(uuid), params=params)

    def wait(self, uuid, done, deadline_s):
        """Polls GET until done(view) is true; returns the view, or None once it is 404.

        Raises ApiError(408, 'container.timeout') past the deadline.
        """
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                view = self.get(uuid)
            except ApiError as e:
                if e.status == 404:
                    return None
                raise
            if done(view):
                return view
            if time.monotonic() >= deadline:
                raise ApiError(408, 'container.timeout', 'Timeout',
                               'container %s still %s (task %s) after %ss in zunvmd'
                               % (uuid, view.get('status'), view.get('task_state'),
                                  deadline_s))
            time.sleep(self.poll_interval)

    # --- images and the host ---------------------------------------------------------
    def images(self):
        return (self.request('GET', '/images') or {}).get('images') or []

    def pull(self, repo, tag, policy, timeout):
        body = {'repo': repo, 'tag': tag, 'image_pull_policy': policy}
        return self.request('POST', '/images', body=body, timeout=timeout)

    def hosts(self):
        return (self.request('GET', '/hosts') or {}).get('hosts') or []
