-- wrk script: POST a container create (fake driver) with the headers the CLI sends.
wrk.method = "POST"
wrk.body = '{"image": "busybox", "command": ["sleep", "inf"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["OpenStack-API-Version"] = "container 1.40"
