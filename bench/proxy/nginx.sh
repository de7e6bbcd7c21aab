# The nginx servers that run.sh and instructions.sh measure crossgate with, written once
# (sourced by both). Each function prints a whole configuration; WORK holds its pid, logs and
# temporary files; everything listens on 127.0.0.1.

# upstream_conf PORT WORK: the upstream of every proxy, one worker: `/small` answers a small JSON
# body, `/files/…` serves WORK/files.
upstream_conf() {
  local port="$1" work="$2"
  cat <<EOF
user root;
worker_processes 1;
pid $work/up.pid;
error_log $work/logs/up.err;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $work/tmp_up;
  server {
    listen 127.0.0.1:$port;
    location = /small { default_type application/json; return 200 '{"ok":true}'; }
    location /files/ { root $work; }
  }
}
EOF
}

# cors_proxy_conf PORT UPSTREAM_PORT ORIGIN WORK WORKERS [foreground]: nginx as the CORS reverse
# proxy crossgate is held to: add_header … always, OPTIONS answered 204 with the preflight
# headers, keep-alive connections to 127.0.0.1:UPSTREAM_PORT. `foreground`: one process that
# stays in the foreground (no master, no daemon), as callgrind needs it.
cors_proxy_conf() {
  local port="$1" upstream="$2" origin="$3" work="$4" workers="$5" mode="${6:-}"
  if [ "$mode" = foreground ]; then
    printf 'daemon off;\nmaster_process off;\n'
  fi
  cat <<EOF
user root;
worker_processes $workers;
pid $work/ng.pid;
error_log $work/logs/ng.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/tmp_ng;
  proxy_temp_path $work/tmp_ngp;
  upstream up { server 127.0.0.1:$upstream; keepalive 128; }
  server {
    listen 127.0.0.1:$port;
    location / {
      if (\$request_method = OPTIONS) {
        add_header access-control-allow-origin "$origin" always;
        add_header access-control-allow-methods "PUT" always;
        add_header access-control-allow-headers "content-type" always;
        add_header vary "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" always;
        return 204;
      }
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      add_header access-control-allow-origin "$origin" always;
      add_header vary "Origin" always;
    }
  }
}
EOF
}
