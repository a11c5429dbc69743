-- POST a people search with JSON and x-api-key; KEY comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("KEY")
wrk.body = '{"person_titles": ["VP Sales"], "person_locations": ["United States"], "per_page": 10}'
