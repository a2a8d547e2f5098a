//! The approver web form over real HTTP, as a browser without JavaScript uses it: cookies kept,
//! redirects not followed (so each 303 is seen), forms posted urlencoded.

mod admin;
mod decisions;
mod pages;
mod security;

use crate::helpers::{TestApp, TestApprover};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub html: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        Self { client, base: app.address.clone() }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("sent");
        let (status, headers) = (response.status(), response.headers().clone());
        Page { status, headers, html: response.text().await.expect("body") }
    }

    /// This session's CSRF token, as the inbox's sign-out form carries it.
    pub async fn csrf(&self) -> String {
        field(&self.get("/ui").await.html, "/ui/sign-out", "csrf")
    }

    pub async fn post(&self, path: &str, form: &[(&str, String)]) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).form(form).send().await.expect("sent")
    }

    /// Signs in through the form with the approver's next code; returns the 303's response.
    pub async fn sign_in_with(&self, approver: &TestApprover, password: &str, code: String) -> reqwest::Response {
        let page = self.get("/ui/sign-in").await;
        let csrf = field(&page.html, "/ui/sign-in", "csrf");
        let form = [
            ("csrf", csrf),
            ("username", approver.username.clone()),
            ("password", password.to_owned()),
            ("totp", code),
        ];
        self.post("/ui/sign-in", &form).await
    }

    /// Signs in and asserts it worked.
    pub async fn sign_in(&self, approver: &TestApprover) -> reqwest::Response {
        let response = self.sign_in_with(approver, &approver.password, approver.next_code().await).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/ui");
        response
    }

    /// Posts the form with this action on `page_path`, its hidden fields plus `extra`.
    pub async fn submit(&self, page_path: &str, action: &str, extra: &[(&str, String)]) -> reqwest::Response {
        let page = self.get(page_path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let mut form = hidden_fields(&page.html, action);
        form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.post(action, &pairs).await
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The session cookie's value from a response's `Set-Cookie`, if it sets one.
pub fn session_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The text of the form posting to `action`.
fn form_html<'a>(html: &'a str, action: &str) -> &'a str {
    let marker = format!("action=\"{action}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no form posting to {action} in:\n{html}"));
    let end = html[start..].find("</form>").map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The hidden inputs of the form posting to `action`.
pub fn hidden_fields(html: &str, action: &str) -> Vec<(String, String)> {
    form_html(html, action)
        .split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value").unwrap_or_default())))
        .collect()
}

pub fn field(html: &str, action: &str, name: &str) -> String {
    hidden_fields(html, action).into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or_default()
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

/// Whether `raw` appears in the page as text: its `<`, `>`, `"` and `&` escaped (named or numeric).
pub fn shows_as_text(html: &str, raw: &str) -> bool {
    let numeric = raw.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;");
    let named = raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    html.contains(&numeric) || html.contains(&named)
}
