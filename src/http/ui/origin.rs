//! A second line behind the CSRF token: a POST to the web form that a browser says came from
//! another site is refused before any handler runs, even with a valid token (a token can leak;
//! the browser's own `Origin` and `Sec-Fetch-Site` headers cannot be forged by a web page).
//!
//! Absent headers pass: old browsers and command-line clients send neither, and the token still
//! protects them. `same-site` is refused too: a sibling subdomain is not this application.

use super::UiError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether a POST with these headers may reach a form handler.
fn from_this_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if let Some(site) = text("sec-fetch-site") {
        // `none` is a navigation the user typed; `same-origin` is our own page.
        if !matches!(site.to_ascii_lowercase().as_str(), "same-origin" | "none") {
            return false;
        }
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (None, _) => true,
        (Some(origin), Some(host)) => same_host(origin, host),
        (Some(_), None) => false,
    }
}

/// `Origin: http://host:port` (or https) names the host the browser sent the request to.
fn same_host(origin: &str, host: &str) -> bool {
    let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

/// Middleware on the `/ui` routes: refuses cross-site POSTs with the CSRF page (403).
pub async fn refuse_cross_site_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !from_this_site(request.headers()) {
        return UiError::csrf().into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_our_own_origin_or_no_headers_pass() {
        let host = ("host", "approvals.example:8080");
        assert!(from_this_site(&headers(&[host])));
        assert!(from_this_site(&headers(&[host, ("origin", "https://approvals.example:8080")])));
        assert!(from_this_site(&headers(&[
            host,
            ("origin", "http://APPROVALS.example:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(from_this_site(&headers(&[host, ("sec-fetch-site", "none")])));
        for foreign in [
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "https://approvals.example:8081")],
            vec![host, ("origin", "https://approvals.example:8080.evil.example")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![("origin", "https://approvals.example:8080")],
        ] {
            assert!(!from_this_site(&headers(&foreign)), "{foreign:?}");
        }
    }
}
