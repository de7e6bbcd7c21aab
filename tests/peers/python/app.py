"""A FastAPI app behind Starlette's CORSMiddleware, for crates/cli/tests/cli/peers.rs.

Run: CROSSGATE_CORS=cors.py uvicorn app:app --host 127.0.0.1 --port PORT
  cors.py is Python run with `app` (this FastAPI app) and `CORSMiddleware` in scope: what
  `crossgate export --to fastapi` writes (a module defining CORS_KWARGS, which this app then
  passes as `app.add_middleware(CORSMiddleware, **CORS_KWARGS)`, as the export says to), or a
  hand-written `app.add_middleware(CORSMiddleware, ...)`.
Routes (any method): /api/data 200 JSON with X-Total, /api/error 500 JSON, anything else 404.
"""

import os

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

app = FastAPI()
ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@app.api_route("/api/data", methods=ANY)
def data():
    return JSONResponse({"data": [1, 2, 3]}, headers={"X-Total": "42"})


@app.api_route("/api/error", methods=ANY)
def error():
    return JSONResponse({"error": "boom"}, status_code=500)


scope = {"app": app, "CORSMiddleware": CORSMiddleware}
with open(os.environ["CROSSGATE_CORS"], encoding="utf-8") as f:
    exec(compile(f.read(), os.environ["CROSSGATE_CORS"], "exec"), scope)
if "CORS_KWARGS" in scope:
    app.add_middleware(CORSMiddleware, **scope["CORS_KWARGS"])
