//! The web UI's sign-in, sessions and forms over HTTP, against the real server: cookie
//! flags, throttling, `next=` kept on this site, CSRF refusals, role checks, expiry, sign-out
//! and personal API tokens.

mod common;

use std::collections::HashMap;

use common::{TestServer, errata_cli_with_input, spawn_server, spawn_server_with};
use errata::store::users::{Email, Role};
use reqwest::blocking::{Client, Response};

const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: keeps cookies, follows no redirects.
struct Browser {
    base: String,
    client: Client,
    cookies: HashMap<String, String>,
    /// Sent as `X-Forwarded-For`, as a reverse proxy in front of the server would.
    forwarded_for: Option<String>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser {
            base: server.base.clone(),
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            cookies: HashMap::new(),
            forwarded_for: None,
        }
    }

    /// A browser whose requests arrive through a proxy that forwards `address`.
    fn forwarded(server: &TestServer, address: &str) -> Browser {
        Browser {
            forwarded_for: Some(address.to_string()),
            ..Browser::new(server)
        }
    }

    fn with_forwarded(&self, request: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.forwarded_for {
            Some(address) => request.header("X-Forwarded-For", address),
            None => request,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &Response) {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().expect("ascii cookie");
            let pair = value.split(';').next().expect("pair");
            let (name, v) = pair.split_once('=').expect("name=value");
            if v.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), v.to_string());
            }
        }
    }

    fn get(&mut self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .with_forwarded(self.client.get(format!("{}{path}", self.base)))
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header())
            .send()
            .expect("GET");
        self.keep_cookies(&response);
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().expect("body"))
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
        let body = serde_urlencoded::to_string(form).expect("form");
        let response = self
            .with_forwarded(self.client.post(format!("{}{path}", self.base)))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", self.cookie_header())
            .body(body)
            .send()
            .expect("POST");
        self.keep_cookies(&response);
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().expect("body"))
    }

    /// The CSRF token of the first form on a page.
    fn csrf_of(&mut self, path: &str) -> String {
        let (status, _, html) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {html}");
        hidden(&html, "csrf")
    }

    fn sign_in(&mut self, email: &str, password: &str, next: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let csrf = self.csrf_of("/auth/login/");
        self.post(
            "/auth/login/",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", next),
            ],
        )
    }
}

/// The value of a hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().expect("value").to_string()
}

fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

fn add_user(server: &TestServer, email: &str, role: Role) -> i64 {
    let password = errata::web::password::Password::parse(PASSWORD).expect("valid");
    let hash = server.block_on(errata::web::password::hash(&password)).expect("hashes");
    let email = Email::parse(email).expect("valid email");
    server
        .block_on(server.store.create_user(&email, role, &hash))
        .expect("user created")
        .id
}

fn signed_in(server: &TestServer, email: &str, role: Role) -> Browser {
    add_user(server, email, role);
    let mut browser = Browser::new(server);
    let (status, _, body) = browser.sign_in(email, PASSWORD, "");
    assert_eq!(status, 303, "{body}");
    browser
}

#[test]
fn signing_in_sets_an_httponly_samesite_cookie_and_lands_on_the_stream() {
    let server = spawn_server();
    add_user(&server, "ada@example.com", Role::Admin);
    let mut browser = Browser::new(&server);
    let (status, headers, _) = browser.get("/auth/login/");
    assert_eq!(status, 200);
    let csp = headers
        .get("content-security-policy")
        .expect("CSP")
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers.get("x-content-type-options").expect("nosniff"), "nosniff");

    // The address is matched without regard to case.
    let (status, headers, _) = browser.sign_in("ADA@example.com", PASSWORD, "");
    assert_eq!(status, 303);
    let cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .find(|c| c.starts_with("errata_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/;"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http has no Secure: {cookie}");
    assert_eq!(location(&headers), "/");
    let (status, headers, _) = browser.get("/");
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/organizations/errata/issues/");
    // Only the hash of the session id is stored.
    let id = browser.cookies["errata_session"].clone();
    let stored = server.db().scalar(
        "SELECT count(*) FROM sessions WHERE id_hash = $1",
        &[errata::store::token_hash(&id).as_str().into()],
    );
    assert_eq!(stored, 1);
    let clear = server.db().scalar(
        "SELECT count(*) FROM sessions WHERE id_hash = $1",
        &[id.as_str().into()],
    );
    assert_eq!(clear, 0);
}

#[test]
fn the_cookie_is_secure_when_the_public_url_is_https() {
    let server = spawn_server_with(|c| c.public_url = Some("https://errata.example".into()));
    add_user(&server, "ada@example.com", Role::Admin);
    let (status, headers, _) = Browser::new(&server).sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 303);
    let cookies: Vec<String> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("errata_session=") && c.contains("; Secure")),
        "{cookies:?}"
    );
}

#[test]
fn an_unknown_address_is_answered_like_a_wrong_password() {
    let server = spawn_server();
    add_user(&server, "ada@example.com", Role::Admin);
    let (wrong, _, wrong_page) = Browser::new(&server).sign_in("ada@example.com", "not the password", "");
    let (unknown, _, unknown_page) = Browser::new(&server).sign_in("nobody@example.com", "not the password", "");
    assert_eq!(wrong, 401);
    assert_eq!(unknown, 401);
    let message = |page: &str| page.contains("Wrong e-mail address or password.");
    assert!(message(&wrong_page) && message(&unknown_page));
}

#[test]
fn sign_in_is_throttled_per_address_after_ten_failures() {
    let server = spawn_server();
    add_user(&server, "ada@example.com", Role::Admin);
    let mut browser = Browser::new(&server);
    for _ in 0..10 {
        let (status, _, _) = browser.sign_in("ada@example.com", "wrong password", "");
        assert_eq!(status, 401);
    }
    // Now even the right password is not checked.
    let (status, headers, _) = browser.sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
    assert!(!browser.cookies.contains_key("errata_session"));
}

/// Ten failed sign-ins from `browser`, each for a different unknown address, so only the
/// client address's count reaches the limit.
fn fail_ten_times(browser: &mut Browser) {
    for i in 0..10 {
        let (status, _, _) = browser.sign_in(&format!("nobody{i}@example.com"), "wrong password", "");
        assert_eq!(status, 401);
    }
}

#[test]
fn behind_a_trusted_proxy_sign_in_is_throttled_per_forwarded_address() {
    let server = spawn_server_with(|c| c.trusted_proxies = "127.0.0.1".into());
    add_user(&server, "ada@example.com", Role::Admin);
    let mut a = Browser::forwarded(&server, "203.0.113.1");
    fail_ten_times(&mut a);
    let (status, _, _) = a.sign_in("someone@example.com", "any password", "");
    assert_eq!(status, 429, "A is throttled");
    // A client that adds its own entry in front still has A's address appended by the proxy.
    let mut spoofing_a = Browser::forwarded(&server, "198.51.100.7, 203.0.113.1");
    let (status, _, _) = spoofing_a.sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 429, "the rightmost untrusted address is the client's");
    let (status, _, body) = Browser::forwarded(&server, "203.0.113.2").sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 303, "B still may sign in: {body}");
}

#[test]
fn without_trusted_proxies_x_forwarded_for_changes_nothing() {
    let server = spawn_server();
    add_user(&server, "ada@example.com", Role::Admin);
    let mut a = Browser::forwarded(&server, "203.0.113.1");
    fail_ten_times(&mut a);
    // Every request comes from the same peer: a new header value is no way around the limit.
    let (status, _, _) = Browser::forwarded(&server, "203.0.113.2").sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 429);
}

#[test]
fn set_password_from_the_command_line_ends_the_sessions_and_replaces_the_password() {
    let server = spawn_server();
    let mut browser = signed_in(&server, "ada@example.com", Role::Member);
    let stream = "/organizations/errata/issues/";
    let (status, _, _) = browser.get(stream);
    assert_eq!(status, 200, "signed in before");
    let new_password = "a brand new password";

    let set_password =
        |who: &str, input: &str| errata_cli_with_input(server.dir.path(), &["user", "set-password", who], Some(input));
    let (ok, _, err) = set_password("ada@example.com", "short\n");
    assert!(!ok, "a password create would refuse is refused");
    assert!(err.contains("at least 8 characters"), "{err}");
    let (ok, _, err) = set_password("nobody@example.com", &format!("{new_password}\n"));
    assert!(!ok);
    assert!(err.contains("nobody@example.com"), "{err}");
    let (status, _, _) = browser.get(stream);
    assert_eq!(status, 200, "a refused change ends nothing");

    let (ok, out, err) = set_password("ada@example.com", &format!("{new_password}\n"));
    assert!(ok, "{err}");
    assert!(out.contains("ada@example.com"), "{out}");
    let (status, headers, _) = browser.get(stream);
    assert_eq!(status, 303, "the old session has ended");
    assert!(location(&headers).starts_with("/auth/login/"), "{}", location(&headers));
    let (status, _, _) = Browser::new(&server).sign_in("ada@example.com", PASSWORD, "");
    assert_eq!(status, 401, "the old password no longer works");
    let (status, _, body) = Browser::new(&server).sign_in("ada@example.com", new_password, "");
    assert_eq!(status, 303, "the new one does: {body}");
}

#[test]
fn next_sends_back_to_local_paths_only() {
    let server = spawn_server();
    add_user(&server, "ada@example.com", Role::Admin);
    for (next, expected) in [
        ("/settings/account/", "/settings/account/"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ] {
        let (status, headers, _) = Browser::new(&server).sign_in("ada@example.com", PASSWORD, next);
        assert_eq!(status, 303);
        assert_eq!(location(&headers), expected, "next={next}");
    }
    // A page asked for without a session sends to sign-in with the page as `next`.
    let (status, headers, _) = Browser::new(&server).get("/settings/account/api/auth-tokens/");
    assert_eq!(status, 303);
    assert_eq!(
        location(&headers),
        "/auth/login/?next=%2Fsettings%2Faccount%2Fapi%2Fauth-tokens%2F"
    );
}

#[test]
fn forms_without_the_right_csrf_token_are_refused() {
    let server = spawn_server();
    let mut browser = signed_in(&server, "ada@example.com", Role::Admin);
    let (status, _, page) = browser.post(
        "/settings/account/api/auth-tokens/",
        &[("name", "ci"), ("scope", "read")],
    );
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("<h1>"), "an HTML page: {page}");
    let (status, _, _) = browser.post(
        "/settings/account/api/auth-tokens/",
        &[("csrf", "0000"), ("name", "ci"), ("scope", "read")],
    );
    assert_eq!(status, 403);
    assert!(server.block_on(server.store.user_tokens(1)).expect("tokens").is_empty());
    // The sign-in form has its own token.
    let mut stranger = Browser::new(&server);
    let (status, _, _) = stranger.post("/auth/login/", &[("email", "ada@example.com"), ("password", PASSWORD)]);
    assert_eq!(status, 403);
}

#[test]
fn a_viewer_sees_no_write_actions_and_forged_writes_are_refused() {
    let server = spawn_server();
    add_user(&server, "admin@example.com", Role::Admin);
    let mut viewer = signed_in(&server, "viewer@example.com", Role::Viewer);
    let (status, _, page) = viewer.get("/organizations/errata/settings/members/");
    assert_eq!(status, 200);
    assert!(page.contains("admin@example.com"));
    assert!(!page.contains("id=\"invite\"") && !page.contains("/remove/"), "{page}");
    let csrf = hidden(&page, "csrf");
    let (status, _, _) = viewer.post(
        "/organizations/errata/settings/members/",
        &[
            ("csrf", &csrf),
            ("email", "mallory@example.com"),
            ("role", "admin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(status, 403);
    let (status, _, _) = viewer.post("/organizations/errata/settings/members/1/remove/", &[("csrf", &csrf)]);
    assert_eq!(status, 403);
    // A token wider than the role is refused.
    let (status, _, _) = viewer.post(
        "/settings/account/api/auth-tokens/",
        &[("csrf", &csrf), ("name", "ci"), ("scope", "write")],
    );
    assert_eq!(status, 403);
    let users = server.block_on(server.store.users()).expect("users");
    assert_eq!(users.len(), 2);
}

#[test]
fn an_admin_adds_people_with_a_one_time_password_and_changes_roles() {
    let server = spawn_server();
    let mut admin = signed_in(&server, "admin@example.com", Role::Admin);
    let csrf = admin.csrf_of("/organizations/errata/settings/members/");
    let (status, _, page) = admin.post(
        "/organizations/errata/settings/members/",
        &[
            ("csrf", &csrf),
            ("email", "Bob@Example.com"),
            ("role", "viewer"),
            ("password", ""),
        ],
    );
    assert_eq!(status, 200, "{page}");
    let marker = "id=\"invite-password\">";
    let start = page.find(marker).expect("one-time password shown") + marker.len();
    let one_time: String = page[start..].chars().take_while(|c| *c != '<').collect();
    let (status, _, _) = Browser::new(&server).sign_in("bob@example.com", &one_time, "");
    assert_eq!(status, 303);
    // The same address in another case is taken.
    let (status, _, _) = admin.post(
        "/organizations/errata/settings/members/",
        &[
            ("csrf", &csrf),
            ("email", "BOB@example.com"),
            ("role", "viewer"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(status, 400);
    let bob = server
        .block_on(server.store.user_by_email("bob@example.com"))
        .expect("read")
        .expect("bob")
        .0;
    let (status, _, _) = admin.post(
        &format!("/organizations/errata/settings/members/{}/role/", bob.id),
        &[("csrf", &csrf), ("role", "member")],
    );
    assert_eq!(status, 303);
    assert_eq!(
        server.block_on(server.store.user(bob.id)).expect("bob").role,
        Role::Member
    );
    // The last admin stays an admin.
    let (status, _, _) = admin.post(
        "/organizations/errata/settings/members/1/role/",
        &[("csrf", &csrf), ("role", "viewer")],
    );
    assert_eq!(status, 400);
}

#[test]
fn signing_out_ends_the_session() {
    let server = spawn_server();
    let mut browser = signed_in(&server, "ada@example.com", Role::Member);
    let session = browser.cookies["errata_session"].clone();
    let csrf = browser.csrf_of("/settings/account/");
    let (status, headers, _) = browser.post("/auth/logout/", &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    assert_eq!(location(&headers), "/auth/login/");
    assert!(!browser.cookies.contains_key("errata_session"));
    // The old cookie, sent again, opens nothing.
    browser.cookies.insert("errata_session".into(), session);
    let (status, headers, _) = browser.get("/settings/account/");
    assert_eq!(status, 303);
    assert!(location(&headers).starts_with("/auth/login/"));
}

#[test]
fn an_idle_session_expires() {
    let server = spawn_server_with(|c| c.session_idle_secs = 1);
    let mut browser = signed_in(&server, "ada@example.com", Role::Member);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, headers, _) = browser.get("/settings/account/");
    assert_eq!(status, 303);
    assert!(location(&headers).starts_with("/auth/login/"));
    assert_eq!(server.db().scalar("SELECT count(*) FROM sessions", &[]), 0);
}

#[test]
fn an_old_session_expires_and_is_pruned_on_both_backends() {
    let server = spawn_server();
    let user = add_user(&server, "ada@example.com", Role::Member);
    let limits = errata::store::users::SessionLimits {
        idle_us: 10_000_000,
        max_us: 100_000_000,
    };
    let store = &server.store;
    server
        .block_on(store.create_session("h1", user, "c1", 1_000_000_000))
        .expect("created");
    server
        .block_on(store.create_session("h2", user, "c2", 1_000_000_000))
        .expect("created");
    let alive = server
        .block_on(store.session("h1", 1_005_000_000, limits))
        .expect("read");
    assert_eq!(alive.expect("alive").csrf, "c1");
    // Used within the idle time, but past the absolute lifetime.
    let old = server
        .block_on(store.session("h1", 1_100_000_001, limits))
        .expect("read");
    assert!(old.is_none());
    let pruned = server
        .block_on(store.prune_sessions(1_100_000_001, limits))
        .expect("pruned");
    assert_eq!(pruned, 1, "h1 went when found expired; h2 by the prune");
}

#[test]
fn a_personal_token_works_on_the_api_until_revoked() {
    let server = spawn_server();
    let mut browser = signed_in(&server, "ada@example.com", Role::Member);
    let csrf = browser.csrf_of("/settings/account/api/auth-tokens/");
    let (status, _, page) = browser.post(
        "/settings/account/api/auth-tokens/",
        &[("csrf", &csrf), ("name", "laptop"), ("scope", "write")],
    );
    assert_eq!(status, 200, "{page}");
    let marker = "id=\"new-token\">";
    let start = page.find(marker).expect("token shown once") + marker.len();
    let token: String = page[start..].chars().take_while(|c| *c != '<').collect();
    assert!(token.starts_with("sntryu_"));
    let api = |token: &str| {
        server
            .client
            .get(format!("{}/api/0/organizations/", server.base))
            .bearer_auth(token)
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    assert_eq!(api(&token), 200);
    let (_, _, listed) = browser.get("/settings/account/api/auth-tokens/");
    assert!(listed.contains("laptop") && !listed.contains(&token), "shown only once");
    let id = server.block_on(server.store.user_tokens(1)).expect("tokens")[0].id;
    let (status, _, _) = browser.post(
        &format!("/settings/account/api/auth-tokens/{id}/revoke/"),
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 303);
    assert_eq!(api(&token), 401);
}

#[test]
fn a_browser_gets_an_html_404_and_api_clients_json() {
    let server = spawn_server();
    let (status, headers, page) = Browser::new(&server).get("/no/such/page/");
    assert_eq!(status, 404);
    assert!(headers.get("content-security-policy").is_some());
    assert!(page.contains("<h1>Not found</h1>"), "{page}");
    let (status, _, body) = server.get("/api/0/no/such/thing/");
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
}

#[test]
fn assets_are_served_under_hashed_names_for_a_year() {
    let server = spawn_server();
    let (_, _, page) = Browser::new(&server).get("/auth/login/");
    let start = page.find("/_static/app.").expect("stylesheet link");
    let href: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let response = server.client.get(format!("{}{href}", server.base)).send().expect("GET");
    assert_eq!(response.status(), 200);
    let cache = response
        .headers()
        .get("cache-control")
        .expect("cached")
        .to_str()
        .expect("ascii");
    assert_eq!(cache, "public, max-age=31536000, immutable");
    let (status, _, _) = server.get("/_static/app.000000000000.css");
    assert_eq!(status, 404);
}
