#!/usr/bin/python3
"""zunvmd with `[api] auth_strategy = keystone` against a real Keystone (Debian's
python3-keystone on 127.0.0.1, tests/e2e/keystone_proc.py): tokens validated with zunvmd's own
service user, the caller's user and project on what it makes, 401 for missing, garbage and
revoked tokens, Zun's default policy (admin_api routes and fields 403 for members) and projects
(a project sees and acts on its own containers only; admins on others' with all_projects),
503 when Keystone is down, and the real `openstack appcontainer` CLI with password
authentication finding zunvmd through Keystone's catalog (service type `container`).
Fake sandbox driver: no VM is needed for any of it.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keystone_proc import ADMIN_PASSWORD, Keystone, json_request  # noqa: E402
from zunvmd_proc import Zunvmd, wait_for  # noqa: E402

OPENSTACK = "/usr/bin/openstack"
CACHE_SECONDS = 2


class KeystoneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keystone = Keystone().setup().start()
        try:
            # zunvmd's service user: validating others' tokens needs Keystone's `service` role.
            cls.keystone.user("zunvm", "zunvm-secret", "service", "service")
            cls.keystone.user("alice", "alice-secret", "demo", "member")
            cls.daemon = Zunvmd(config_text=(
                "[api]\nauth_strategy = keystone\n"
                "[keystone_authtoken]\nauth_url = %s\nusername = zunvm\npassword = zunvm-secret\n"
                "project_name = service\ntoken_cache_time = %d\n" % (cls.keystone.url, CACHE_SECONDS))).start()
        except Exception:
            cls.keystone.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        cls.keystone.cleanup()

    def api(self, method, path, token=None, body=None, headers=None):
        """(status, parsed body) of one call to zunvmd at microversion 1.40."""
        status, _, doc = json_request(method, self.daemon.url + path, body, token,
                                      dict(headers or {}, **{"OpenStack-API-Version": "container 1.40"}))
        return status, doc

    def test_1_an_admin_token_acts_as_its_user_and_project(self):
        token, doc = self.keystone.token("admin", ADMIN_PASSWORD, "admin")
        # X-User-Id / X-Project-Id cannot override what Keystone says.
        status, body = self.api("POST", "/v1/containers?run=true", token,
                                {"image": "busybox", "name": "ks-one", "command": ["sleep", "inf"]},
                                {"X-User-Id": "mallory", "X-Project-Id": "elsewhere"})
        self.assertEqual(status, 202, body)
        status, shown = self.api("GET", "/v1/containers/ks-one", token)
        self.assertEqual(status, 200, shown)
        self.assertEqual(shown["user_id"], doc["user"]["id"])
        self.assertEqual(shown["project_id"], doc["project"]["id"])
        status, _ = self.api("DELETE", "/v1/containers/ks-one?force=True", token)
        self.assertEqual(status, 204)

    def test_2_missing_garbage_and_foreign_tokens_are_401_with_the_envelope(self):
        for token in (None, "garbage", "gAAAAAB" + "A" * 180):
            status, body = self.api("GET", "/v1/containers", token)
            self.assertEqual(status, 401, (token, body))
            self.assertEqual(body["errors"][0]["status"], 401)
        status, _ = self.api("GET", "/v1", None)  # the version document stays public
        self.assertEqual(status, 200)

    def test_3_projects_see_and_act_on_their_own_under_zun_s_policy(self):
        self.keystone.user("bob", "bob-secret", "other", "member")
        alice, alice_doc = self.keystone.token("alice", "alice-secret", "demo")
        bob, _ = self.keystone.token("bob", "bob-secret", "other")
        admin = self.keystone.admin_token()
        status, made = self.api("POST", "/v1/containers?run=true", alice,
                                {"image": "busybox", "name": "a-box", "command": ["sleep", "inf"]})
        self.assertEqual(status, 202, made)
        uuid = made["uuid"]
        self.assertEqual(made["project_id"], alice_doc["project"]["id"])
        for field in ("host", "runtime", "image_pull_policy", "privileged"):  # admin-only fields
            self.assertNotIn(field, made)
        names = lambda token, q="": [c["name"] for c in self.api("GET", "/v1/containers" + q, token)[1]["containers"]]
        self.assertEqual(names(alice), ["a-box"])
        # Another project: not listed, not found, not touched.
        self.assertNotIn("a-box", names(bob))
        for method, path in (("GET", "/v1/containers/" + uuid), ("GET", "/v1/containers/a-box"),
                             ("POST", "/v1/containers/%s/stop" % uuid), ("DELETE", "/v1/containers/" + uuid),
                             ("GET", "/v1/containers/%s/container_actions" % uuid)):
            self.assertEqual(self.api(method, path, bob)[0], 404, (method, path))
        # An admin sees other projects only when asking for all_projects; a member may not ask.
        self.assertEqual(self.api("GET", "/v1/containers/" + uuid, admin)[0], 404)
        status, shown = self.api("GET", "/v1/containers/%s?all_projects=true" % uuid, admin)
        self.assertEqual(status, 200, shown)
        self.assertIn("host", shown)
        self.assertIn("a-box", names(admin, "?all_projects=1"))
        self.assertEqual(self.api("GET", "/v1/containers?all_projects=true", alice)[0], 403)
        # admin_api rules: services, hosts, images; admin-only create fields and filters.
        for path in ("/v1/services", "/v1/hosts", "/v1/images", "/v1/containers?host=x"):
            status, body = self.api("GET", path, alice)
            self.assertEqual(status, 403, (path, body))
            self.assertEqual(body["errors"][0]["code"], "container.policy-not-authorized")
            self.assertIn("Policy doesn't allow", body["errors"][0]["detail"])
        status, _ = self.api("POST", "/v1/containers", alice, {"image": "busybox", "image_pull_policy": "always"})
        self.assertEqual(status, 403)
        self.assertEqual(self.api("GET", "/v1/hosts", admin)[0], 200)
        # The owner acts on its own.
        self.assertEqual(self.api("GET", "/v1/containers/%s/container_actions" % uuid, alice)[0], 200)
        self.assertEqual(self.api("DELETE", "/v1/containers/%s?force=True" % uuid, alice)[0], 204)

    def test_4_a_revoked_token_stops_working_within_the_cache_time(self):
        token, _ = self.keystone.token("admin", ADMIN_PASSWORD, "admin")
        self.assertEqual(self.api("GET", "/v1/containers", token)[0], 200)
        status, _, _ = self.keystone.call("DELETE", "/auth/tokens", token=self.keystone.admin_token(),
                                          headers={"X-Subject-Token": token})
        self.assertEqual(status, 204)
        wait_for(lambda: self.api("GET", "/v1/containers", token)[0] == 401, CACHE_SECONDS + 10,
                 "the revoked token refused")

    def test_5_the_cli_with_password_auth_finds_zunvmd_in_the_catalog(self):
        self.keystone.register_endpoint("container", "zun", self.daemon.url + "/v1")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_AUTH_URL=self.keystone.url, OS_IDENTITY_API_VERSION="3", OS_USERNAME="admin",
                   OS_PASSWORD=ADMIN_PASSWORD, OS_PROJECT_NAME="admin", OS_USER_DOMAIN_NAME="Default",
                   OS_PROJECT_DOMAIN_NAME="Default", OS_INTERFACE="public")

        def osc(*args):
            p = subprocess.run([OPENSTACK, "appcontainer"] + list(args), capture_output=True, text=True,
                               env=env, timeout=120)
            self.assertEqual(p.returncode, 0, "%s: %s %s" % (args, p.stdout, p.stderr))
            return p.stdout

        osc("run", "--name", "ks-cli", "busybox", "sleep", "infinity")
        names = [c["name"] for c in json.loads(osc("list", "-f", "json"))]
        self.assertIn("ks-cli", names)
        osc("delete", "--force", "ks-cli")
        wait_for(lambda: "ks-cli" not in [c["name"] for c in json.loads(osc("list", "-f", "json"))], 30,
                 "ks-cli deleted")

    def test_9_keystone_down_is_503_never_an_open_door(self):
        fresh, _ = self.keystone.token("admin", ADMIN_PASSWORD, "admin")
        self.keystone.stop()
        try:
            status, body = self.api("GET", "/v1/containers", fresh)
            self.assertEqual(status, 503, body)
            self.assertEqual(body["errors"][0]["status"], 503)
            self.assertEqual(self.api("GET", "/v1/containers", "garbage")[0], 503)
        finally:
            self.keystone.start()


if __name__ == "__main__":
    unittest.main(verbosity=2)
