-- POST an unfiltered people search (page 3) with JSON and x-api-key; KEY comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("KEY")
wrk.body = '{"page": 3, "per_page": 10}'
