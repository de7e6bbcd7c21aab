//! `crossgate export` on real servers, beyond what [`super::exports_do_what_their_policies_say`]
//! holds every target to: the nginx snippet passes `nginx -t` when included in a minimal
//! configuration, and the Apache export removes a CGI script's CORS headers on real Apache.

use std::process::Command;

use super::{TempDir, apache, crossgate, nginx_parts, path_str, program};

/// Exact, subdomain and any-port origins, methods, headers, exposed headers, credentials, max-age.
const POLICY: &str = include_str!("../cli/export_policy.toml");

/// What a user does with the snippet: part 1 included in `http {}`, part 2 in a `location`, and
/// `nginx -t` on it; for several policies, block_disallowed_origins included.
#[test]
fn export_nginx_passes_nginx_t() {
    for (name, policy) in [
        ("full", POLICY),
        (
            "public",
            "allow_origins = [\"*\"]\nallow_methods = [\"*\"]\nallow_headers = [\"*\"]\nexpose_headers = [\"*\"]\n",
        ),
        (
            "blocking",
            "allow_origins = [\"https://app.example.com\"]\nblock_disallowed_origins = true\n",
        ),
        ("nothing", "allow_origins = []\n"),
        // Found in review: a quote in an origin ended nginx's quoted string early. The URL
        // standard allows these characters in an http(s) host, so validation lets them through.
        (
            "quotes",
            "allow_origins = [\"https://a\\\"b;c{d}$e'f`g.example.com\", \"https://*.q\\\"r.example.org\"]\n",
        ),
    ] {
        let dir = TempDir::new(&format!("export-nginx-t-{name}"));
        let policy = dir.file("policy.toml", policy);
        let run = crossgate(&["export", "--to", "nginx", &policy]);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let (maps, location) = nginx_parts(&run.stdout);
        let maps = dir.file("maps.conf", &maps);
        let location = dir.file("location.conf", &location);
        let root = path_str(&dir.0);
        let conf = dir.file(
            "nginx.conf",
            &format!(
                "pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\nhttp {{\n\
                 client_body_temp_path {root};\nproxy_temp_path {root};\nfastcgi_temp_path {root};\n\
                 uwsgi_temp_path {root};\nscgi_temp_path {root};\naccess_log off;\n\
                 include {maps};\n\
                 server {{\n listen 127.0.0.1:1;\n location / {{\n  include {location};\n  \
                 proxy_pass http://127.0.0.1:2;\n }}\n}}\n}}\n"
            ),
        );
        let output = Command::new(program("nginx", "nginx-light"))
            .args(["-t", "-q", "-p", &root, "-c", &conf])
            .output()
            .expect("nginx runs");
        assert!(
            output.status.success(),
            "{name}: nginx -t refused the export:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            run.stdout
        );
    }
}

/// Found in review: the Apache export removed the application's CORS headers with `Header
/// unset` alone, which leaves those of CGI scripts and mod_proxy_fcgi (PHP-FPM), kept in
/// mod_headers' `always` table: a script's `Access-Control-Allow-Origin: *` reached every site.
/// Real Apache (scripts/peers installs it) runs the export in front of such a script.
#[test]
fn regression_apache_export_removes_a_cgi_scripts_cors_headers() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("export-apache-cgi");
    let policy = dir.file(
        "policy.toml",
        "allow_origins = [\"https://app.example.com\"]\nallow_credentials = true\n",
    );
    let run = crossgate(&["export", "--to", "apache", &policy]);
    assert_eq!(run.code, 0, "{run:?}");
    let cgi = dir.0.join("cgi");
    std::fs::create_dir(&cgi).expect("cgi dir");
    let script = cgi.join("app.sh");
    std::fs::write(
        &script,
        concat!(
            "#!/bin/sh\n",
            "printf 'Content-Type: text/plain\\r\\n",
            "Access-Control-Allow-Origin: *\\r\\n",
            "Access-Control-Allow-Credentials: true\\r\\n",
            "Access-Control-Expose-Headers: x-secret\\r\\n\\r\\nhi\\n'\n",
        ),
    )
    .expect("write the script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let d = path_str(&dir.0);
    let config = format!(
        "LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so\n\
         LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n\
         ScriptSock {d}/cgid.sock\nScriptAlias /cgi/ {d}/cgi/\n\
         <Directory {d}/cgi>\n  Require all granted\n</Directory>\n{}",
        run.stdout
    );
    let apache = apache("export-cgi", &config);

    let evil = apache.request("GET", "/cgi/app.sh", &[("Origin", "https://evil.example")]);
    assert_eq!(evil.status, 200, "the script ran: {evil:?}");
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    ] {
        assert_eq!(evil.one(name), None, "{name}: {evil:?}");
    }
    let app = apache.request(
        "GET",
        "/cgi/app.sh",
        &[("Origin", "https://app.example.com")],
    );
    assert_eq!(
        app.one("access-control-allow-origin"),
        Some("https://app.example.com"),
        "{app:?}"
    );
    assert_eq!(app.one("access-control-allow-credentials"), Some("true"));
    assert_eq!(app.one("access-control-expose-headers"), None, "{app:?}");
}
