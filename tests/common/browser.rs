//! A browser signed in to the web UI as one person: a session cookie and its CSRF token,
//! with helpers to read pages and post forms.

use reqwest::blocking::Client;

use super::TestServer;
use errata::store::users::{Email, Role};
use errata::web::password::{self, Password};

const PASSWORD: &str = "correct horse battery staple";

pub struct Browser {
    client: Client,
    base: String,
    cookie: String,
    pub csrf: String,
}

/// Signs a new person with `role` in through the sign-in form: the person is made through
/// the store with an Argon2id hash, as the CLI makes them. `org` is an organization whose
/// projects page gives the session's CSRF token.
pub fn sign_in(server: &TestServer, role: Role, org: &str) -> Browser {
    let email = format!("{}-{}@example.com", role.as_str(), uuid::Uuid::new_v4().simple());
    let hash = server
        .block_on(password::hash(&Password::parse(PASSWORD).expect("a good password")))
        .expect("hash");
    server
        .block_on(
            server
                .store
                .create_user(&Email::parse(&email).expect("e-mail"), role, &hash),
        )
        .expect("create user");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = client
        .get(format!("{}/auth/login/", server.base))
        .send()
        .expect("sign-in page");
    let login_cookie = set_cookie(&form, "errata_login_csrf").expect("the sign-in form sets its token");
    let html = form.text().expect("sign-in page");
    let token = hidden_csrf(&html).expect("the sign-in form's token");
    let signed_in = client
        .post(format!("{}/auth/login/", server.base))
        .header("Cookie", format!("errata_login_csrf={login_cookie}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("csrf", token.as_str()), ("email", &email), ("password", PASSWORD)])
                .expect("form"),
        )
        .send()
        .expect("sign in");
    assert_eq!(signed_in.status().as_u16(), 303, "sign-in succeeds");
    let session = set_cookie(&signed_in, "errata_session").expect("a session cookie");
    let mut browser = Browser {
        client,
        base: server.base.clone(),
        cookie: format!("errata_session={session}"),
        csrf: String::new(),
    };
    let page = browser.page(&format!("/organizations/{org}/projects/"));
    browser.csrf = hidden_csrf(&page).expect("pages carry the session's token");
    browser
}

/// The value of cookie `name` set by a response.
pub fn set_cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// The first hidden `csrf` field of a page.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..at + html[at..].find('"')?].to_string())
}

/// What a posted form answered: its status, `Location` and body.
pub struct Answer {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Browser {
    pub fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Accept", "text/html")
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    }

    pub fn page(&self, path: &str) -> String {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Posts a form with this session's CSRF token.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut pairs: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        pairs.extend_from_slice(fields);
        self.post_raw(path, &pairs)
    }

    /// Posts exactly `pairs`, with or without a token.
    pub fn post_raw(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(pairs).expect("form");
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "text/html")
            .body(body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Answer {
            status,
            location,
            body: response.text().unwrap_or_default(),
        }
    }
}
