//! The OpenID Provider's server-rendered pages: the sign-in form and error pages. No JavaScript;
//! every value is HTML-escaped; the headers forbid caching, framing, referrers and scripts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Content-Security-Policy` of every page: nothing but inline styles, forms post to us only.
///
/// `form-action` covers the redirect that follows a form post too (Chromium enforces it there),
/// so it names the loopback origins where native clients receive the code (RFC 8252 §7.3).
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    form-action 'self' http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'";

const STYLE: &str = "body{font-family:sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}\
label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:1.5rem;padding:.5rem 1rem}.message{color:#a00}";

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Adds the headers every OP response carries (pages and redirects alike).
pub fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    protect((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// An error page: shown instead of redirecting when the client or its redirect URI cannot be
/// trusted (RFC 6749 §4.1.2.1), or when the form itself is stale or forged.
pub fn error(status: StatusCode, message: &str) -> Response {
    page(status, "Sign-in failed", &format!("<p class=\"message\">{}</p>", escape(message)))
}

/// A page with a short message and no form (e.g. "You are signed out").
pub fn notice(title: &str, message: &str) -> Response {
    page(StatusCode::OK, title, &format!("<p>{}</p>", escape(message)))
}

/// "Sign out of Tessera in this browser?": a form that posts `post_logout_redirect_uri` and
/// `state` back to `action` when the user presses Sign out.
pub fn confirm_sign_out(action: &str, target: Option<&str>, state: Option<&str>) -> Response {
    let hidden = |name: &str, value: Option<&str>| {
        value.map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v))).unwrap_or_default()
    };
    let body = format!(
        "<p>An application asks to sign you out of Tessera in this browser. You will need your \
         password to sign in here again.</p>\
         <form method=\"post\" action=\"{action}\">{target}{state}\
         <button type=\"submit\">Sign out</button></form>",
        action = escape(action),
        target = hidden("post_logout_redirect_uri", target),
        state = hidden("state", state),
    );
    page(StatusCode::OK, "Sign out of Tessera in this browser?", &body)
}

/// What the sign-in form shows.
pub struct SignInForm<'a> {
    /// Where the form posts.
    pub action: &'a str,
    /// The pending authorization's opaque id (hidden field `pending`).
    pub pending: &'a str,
    /// The CSRF token (hidden field `csrf`, also in a cookie).
    pub csrf: &'a str,
    /// The client asking, shown to the user.
    pub client_id: &'a str,
    /// Username to prefill (never the password).
    pub username: &'a str,
    /// An error to show above the form.
    pub message: Option<&'a str>,
}

/// The username + password form.
pub fn sign_in(status: StatusCode, f: &SignInForm<'_>) -> Response {
    let message =
        f.message.map(|m| format!("<p class=\"message\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<p>Sign in to continue to <strong>{client}</strong>.</p>{message}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{username}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button> \
         <button type=\"submit\" name=\"decision\" value=\"cancel\" formnovalidate>Cancel</button></form>",
        client = escape(f.client_id),
        action = escape(f.action),
        pending = escape(f.pending),
        csrf = escape(f.csrf),
        username = escape(f.username),
    );
    page(status, "Sign in to Tessera", &body)
}

/// The device page (RFC 8628 §3.3): the user code, username and password, approve or deny.
pub fn device(status: StatusCode, action: &str, csrf: &str, user_code: &str, message: Option<&str>) -> Response {
    let message = message.map(|m| format!("<p class=\"message\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "<p>Enter the code shown on your device, then sign in to approve it.</p>{message}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"user_code\">Code</label>\
         <input id=\"user_code\" name=\"user_code\" required value=\"{user_code}\">\
         <label for=\"username\">Username</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        action = escape(action),
        csrf = escape(csrf),
        user_code = escape(user_code),
    );
    page(status, "Sign in a device", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
