-- wrk script: GET with the microversion header the CLI sends.
wrk.headers["OpenStack-API-Version"] = "container 1.40"
