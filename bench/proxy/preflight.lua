-- A CORS preflight, as a browser sends it before a PUT with content-type: application/json.
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "http://localhost:5173"
wrk.headers["Access-Control-Request-Method"] = "PUT"
wrk.headers["Access-Control-Request-Headers"] = "content-type"
