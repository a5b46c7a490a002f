//! What every dashboard page shares: the page frame with its stylesheet and refresh script, the
//! security headers, badges and relative times.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::time::rfc3339_ms as rfc3339;

pub const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 24px;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
header .tag{color:#d0d7de;font-size:13px}
main{padding:16px 24px;max-width:100%}
h1{font-size:26px;overflow-wrap:anywhere}
table{border-collapse:collapse;background:#fff;width:100%;font-size:14px}
th,td{border:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2}
.scroll{overflow-x:auto;max-width:100%}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;margin:1px 2px 1px 0;white-space:nowrap}
.ready,.full,.ok{background:#1a7f37}.degraded,.none,.blackhole,.timeout,.refused,.unreachable,.error,.nxdomain,.servfail,.no_records{background:#cf222e}
.partial,.stale,.warning{background:#bf8700}.never_reported{background:#cf222e}.unknown,.info{background:#6e7781}
.muted{color:#57606a;font-size:12px}
.nowrap{white-space:nowrap}
.wrap{overflow-wrap:anywhere}
form.filters{margin:0 0 12px;display:flex;flex-wrap:wrap;gap:8px}
form.filters input[type=search]{min-width:0;flex:1 1 180px;max-width:320px}
ul.hints{margin:0;padding-left:18px}
.timeline{display:flex;gap:2px;flex-wrap:wrap;margin:8px 0}
.timeline span{width:10px;height:22px;display:inline-block;border-radius:2px}
.timeline.mini{margin:2px 0;gap:1px}
.timeline.mini span{width:5px;height:14px;border-radius:1px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center;margin:6px 0}
.legend i{display:inline-block;width:10px;height:14px;border-radius:2px;vertical-align:middle;margin-right:4px}
.legend i.none{background:#d0d7de}
code{font-size:13px}
code.url{overflow-wrap:anywhere}
form.logout{margin-left:auto}
.cause{background:#fff;border:1px solid #d0d7de;border-left:4px solid #cf222e;border-radius:4px;padding:8px 12px;margin:0 0 10px}
.cause.partial{border-left-color:#bf8700}
.cause p{margin:4px 0}
.cause .line{font-weight:600;font-size:15px}
.cause table{margin-top:6px;font-size:13px}
#readiness code,#readiness .route{overflow-wrap:anywhere}
@media (max-width:700px){
main{padding:12px}
header{padding:8px 12px}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards tr{border:1px solid #d0d7de;border-radius:6px;margin:0 0 8px;background:#fff;padding:4px 0}
table.cards td{border:none;padding:3px 10px;overflow-wrap:anywhere}
table.cards td[data-label]::before{content:attr(data-label) ": ";color:#57606a;font-size:12px}
}
"#;

/// Reloads the page's content every 15 seconds while it is open, keeping the URL's filters.
const REFRESH: &str = r#"
setInterval(async () => {
  try {
    const r = await fetch(location.href, {credentials: 'same-origin'});
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.getElementById('content');
    if (fresh) document.getElementById('content').replaceWith(fresh);
  } catch (e) {}
}, 15000);
"#;

/// The Content-Security-Policy of every response: nothing but this page's own stylesheet and
/// script (by hash), fetches to itself, forms to itself, no framing.
pub fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        let hash = |text: &str| {
            use sha2::Digest;
            format!("'sha256-{}'", base64(&sha2::Sha256::digest(text.as_bytes())))
        };
        format!(
            "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            hash(STYLE),
            hash(REFRESH)
        )
    })
}

/// Standard base64, for CSP hashes.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Security headers on every response of the plane, pages and API alike.
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(v) = axum::http::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, "content-security-policy", content_security_policy());
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    response
}

pub fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — netready" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/dashboard" { "netready" }
                    a href="/dashboard" { "Runners" }
                    a href="/dashboard/fleet" { "Fleet" }
                    a href="/dashboard/alerts" { "Alerts" }
                    span class="tag" { "Fargate network readiness" }
                    form class="logout" method="post" action="/logout" { button type="submit" { "Log out" } }
                }
                main { (body) }
                script { (PreEscaped(REFRESH)) }
            }
        }
    }
}

pub fn badge(text: &str) -> Markup {
    html! { span class={"badge " (text)} { (text) } }
}

pub fn unauthorized_redirect() -> Response {
    Redirect::to("/login").into_response()
}

/// "3 min ago", in words of the largest unit (a time ahead of `now` by clock skew is "just now").
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let s = (now_ms - at_ms).max(0) / 1000;
    match s {
        0..=9 => "just now".to_owned(),
        10..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A relative time with the exact one on hover.
pub fn when(at_ms: i64, now_ms: i64) -> Markup {
    html! { time datetime=(rfc3339(at_ms)) title=(rfc3339(at_ms)) { (ago(at_ms, now_ms)) } }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_as_the_rfc_says() {
        // RFC 4648, section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), encoded, "{plain}");
        }
    }
}
