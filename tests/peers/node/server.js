// An Express app behind the `cors` package, for crates/cli/tests/cli/peers.rs.
// Usage: node server.js PORT CORS_OPTIONS.js
//   CORS_OPTIONS.js is a CommonJS module whose export is the cors package's options object
//   (what `crossgate export --to express` writes, or a hand-written one).
// Listens on 127.0.0.1:PORT only. Routes (any method): /api/data 200 JSON with X-Total,
// /api/error 500 JSON, anything else Express's own 404.
"use strict";
const path = require("node:path");
const express = require("express");
const cors = require("cors");

const [port, optionsFile] = process.argv.slice(2);
const options = require(path.resolve(optionsFile));

const app = express();
app.use(cors(options));
app.all("/api/data", (req, res) => {
  res.set("X-Total", "42").json({ data: [1, 2, 3] });
});
app.all("/api/error", (req, res) => {
  res.status(500).json({ error: "boom" });
});
app.listen(Number(port), "127.0.0.1");
