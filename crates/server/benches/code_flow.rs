//! Browser sign-in throughput next to refresh throughput, in one run on one server: each client
//! runs the authorization code flow as a signed-in browser and a native app do it (GET
//! /oauth/authorize with the browser-session cookie → 303 with a code → POST /oauth/token
//! `authorization_code` with the PKCE verifier → tokens and an RS256 id_token), then, for as long
//! again, refreshes the session it got. The server runs in this process with its real SQLite
//! file on disk (WAL, synchronous=FULL).
//!
//! `cargo bench -p tessera-server --bench code_flow` — knobs: BENCH_CLIENTS (8), BENCH_SECS (10).
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tessera_protocol::pkce::{CodeVerifier, random_urlsafe};
use tessera_protocol::{AuthorizeParams, DeviceInfo, Role, TokenRequest, TokenResponse, paths};
use tessera_server::Config;
use tessera_server::testing::TestServer;

const CLIENT: &str = "tessera-desktop";
const PASSWORD: &str = "bench password 123";
const REDIRECT_URI: &str = "http://127.0.0.1:49152/callback";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn device() -> DeviceInfo {
    DeviceInfo { name: "bench".into(), platform: "linux".into(), app_version: "0".into() }
}

/// The `value` of the hidden input `name` in the sign-in page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &html[html.find(&marker).expect("hidden field") + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// `name=value` of the cookie `name` a response sets.
fn set_cookie(resp: &reqwest::Response, name: &str) -> String {
    let prefix = format!("{name}=");
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with(&prefix))
        .unwrap_or_else(|| panic!("cookie {name} is set"))
}

fn params(verifier: &CodeVerifier) -> AuthorizeParams {
    AuthorizeParams {
        response_type: Some("code".into()),
        client_id: Some(CLIENT.into()),
        redirect_uri: Some(REDIRECT_URI.into()),
        scope: Some(tessera_protocol::oidc::SCOPES.into()),
        state: Some(random_urlsafe(16)),
        nonce: Some(random_urlsafe(16)),
        code_challenge: Some(verifier.challenge().as_str().to_owned()),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

/// Signs the "browser" in once through the page; returns its session cookie (`tessera_op=…`).
async fn browser_session(http: &reqwest::Client, base: &str) -> String {
    let query = serde_urlencoded::to_string(params(&CodeVerifier::generate())).unwrap();
    let page = http.get(format!("{base}{}?{query}", paths::AUTHORIZE)).send().await.unwrap();
    let csrf_cookie = set_cookie(&page, "tessera_csrf");
    let html = page.text().await.unwrap();
    let form = [
        ("pending", hidden(&html, "pending")),
        ("csrf", hidden(&html, "csrf")),
        ("username", "bench".into()),
        ("password", PASSWORD.into()),
    ];
    let signed_in = http
        .post(format!("{base}{}", paths::AUTHORIZE))
        .header("cookie", csrf_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER, "the form signs the browser in");
    set_cookie(&signed_in, "tessera_op")
}

/// One code flow with the browser already signed in: authorize (303 with a code), exchange.
async fn code_flow(http: &reqwest::Client, base: &str, sso: &str) -> TokenResponse {
    let verifier = CodeVerifier::generate();
    let query = serde_urlencoded::to_string(params(&verifier)).unwrap();
    let resp = http.get(format!("{base}{}?{query}", paths::AUTHORIZE)).header("cookie", sso).send().await.unwrap();
    let location = resp.headers().get("location").expect("single sign-on answers with a redirect");
    let location = url::Url::parse(location.to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").expect("a code").1.into_owned();
    let req = TokenRequest::authorization_code(code, REDIRECT_URI, verifier.expose(), CLIENT, &device());
    let tokens: TokenResponse = http
        .post(format!("{base}{}", paths::TOKEN))
        .form(&req)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens.id_token.is_some(), "the exchange returns an id_token");
    tokens
}

/// Runs `clients` loops of `step` for `secs`; returns every latency (sorted), the wall time and
/// what each client's last step returned.
async fn run<T, F, Fut>(clients: Vec<T>, secs: u64, step: F) -> (Vec<Duration>, Duration, Vec<T>)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut state| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(8192);
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    state = step(state).await;
                    lat.push(t0.elapsed());
                }
                (lat, state)
            })
        })
        .collect();
    let (mut all, mut last) = (Vec::new(), Vec::new());
    for task in tasks {
        let (lat, state) = task.await.unwrap();
        all.extend(lat);
        last.push(state);
    }
    let elapsed = started.elapsed();
    all.sort();
    (all, elapsed, last)
}

fn report(what: &str, lat: &[Duration], elapsed: Duration) -> f64 {
    let rate = lat.len() as f64 / elapsed.as_secs_f64();
    println!(
        "  {what}: {} in {:.2} s = {rate:.0}/s   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        ms(percentile(lat, 0.5)),
        ms(percentile(lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    rate
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = env_num("BENCH_CLIENTS", 8) as usize;
    let secs = env_num("BENCH_SECS", 10);
    let config = Config {
        refresh_per_ip_per_min: u32::MAX,
        login_per_ip_per_min: u32::MAX,
        login_per_user_per_min: u32::MAX,
        ..Config::default()
    };
    let server = TestServer::start(config).await?;
    server.add_user("bench", PASSWORD, Role::Agent).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()?;
    let base = server.url.clone();
    let sso = browser_session(&http, &base).await;

    let flow = {
        let (http, base, sso) = (http.clone(), base.clone(), sso.clone());
        move |_: Option<TokenResponse>| {
            let (http, base, sso) = (http.clone(), base.clone(), sso.clone());
            async move { Some(code_flow(&http, &base, &sso).await) }
        }
    };
    let (flow_lat, flow_elapsed, sessions) = run(vec![None; clients], secs, flow).await;

    let refresh = {
        let (http, base) = (http.clone(), base.clone());
        move |token: String| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let req = TokenRequest::refresh(&token, CLIENT);
                let resp = http.post(format!("{base}{}", paths::TOKEN)).form(&req).send().await.unwrap();
                let next: TokenResponse = resp.error_for_status().unwrap().json().await.unwrap();
                next.refresh_token
            }
        }
    };
    let tokens = sessions.into_iter().map(|s| s.expect("each client ran a code flow").refresh_token).collect();
    let (refresh_lat, refresh_elapsed, _) = run(tokens, secs, refresh).await;
    assert_eq!(server.reuse_count(), 0, "the benchmark must not trip reuse detection");

    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("tessera-server: browser code flow vs refresh ({cpus} CPUs, {clients} clients, {secs} s each, loopback)");
    println!("  storage: SQLite WAL, synchronous=FULL; id_tokens RS256 (RSA-2048), access tokens EdDSA");
    let flows = report("code flows (authorize with SSO cookie + code exchange)", &flow_lat, flow_elapsed);
    let refreshes = report("refreshes (rotation)", &refresh_lat, refresh_elapsed);
    println!(
        "  ratio: a code flow costs {:.2}x a refresh (p50 {:.2}x)",
        refreshes / flows,
        ms(percentile(&flow_lat, 0.5)) / ms(percentile(&refresh_lat, 0.5)).max(f64::MIN_POSITIVE),
    );
    server.stop().await;
    Ok(())
}
