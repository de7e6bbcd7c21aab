# The nginx CORS reverse proxy that run.sh and instructions.sh hold crossgate to, written once
# (sourced by both): add_header … always, OPTIONS answered 204 with the preflight headers,
# keep-alive connections to the upstream.
#
# cors_proxy_http PORT UPSTREAM_PORT ORIGIN WORK: prints the configuration's http block, listening
# on 127.0.0.1:PORT, proxying to 127.0.0.1:UPSTREAM_PORT, temporary files under WORK.
cors_proxy_http() {
  local port="$1" upstream="$2" origin="$3" work="$4"
  cat <<EOF
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
