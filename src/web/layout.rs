//! What every page shares: the header (`Chrome`), rendering a template into a response with
//! the security headers, redirects, and the error pages (403, 404…).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::assets::{AssetUrls, urls};
use super::session::{Role, Viewer};

/// Scripts and styles only from our own `/_static/`, no inline code, no framing, forms only
/// to ourselves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The part of the site a page belongs to, marked as current in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Issues,
    Projects,
    /// The organization's alert channels and deliveries.
    Alerts,
    Settings,
    Account,
    /// Pages outside the navigation (sign-in, errors).
    None,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Issues => "issues",
            Section::Projects => "projects",
            Section::Alerts => "alerts",
            Section::Settings => "settings",
            Section::Account => "account",
            Section::None => "",
        }
    }
}

/// The page header's data: who is signed in, their CSRF token (for the sign-out form and
/// every other form of the page), the organization the navigation points into.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub email: String,
    pub role: Role,
    pub csrf: String,
    pub org: String,
    pub section: Section,
    pub assets: &'static AssetUrls,
}

impl Chrome {
    pub fn new(viewer: &Viewer, org: impl Into<String>, section: Section) -> Chrome {
        Chrome {
            email: viewer.email.clone(),
            role: viewer.role,
            csrf: viewer.csrf.clone(),
            org: org.into(),
            section,
            assets: urls(),
        }
    }

    /// For pages seen without signing in: no navigation, no sign-out.
    pub fn anonymous() -> Chrome {
        Chrome {
            email: String::new(),
            role: Role::Viewer,
            csrf: String::new(),
            org: String::new(),
            section: Section::None,
            assets: urls(),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.email.is_empty()
    }

    /// `aria-current` for a navigation link: "page" on the current section's.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section.as_str() == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A page: 200, HTML, never cached (it shows one person's data), with the security headers.
pub fn render<T: Template>(page: &T) -> HttpResponse {
    render_status(StatusCode::OK, page)
}

pub fn render_status<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(html) => secure(HttpResponse::build(status))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            secure(HttpResponse::InternalServerError())
                .content_type("text/plain; charset=utf-8")
                .body("internal server error")
        }
    }
}

/// A 303 to a local path (after a form, or to the sign-in page).
pub fn see_other(location: &str) -> HttpResponse {
    secure(HttpResponse::SeeOther())
        .insert_header(("Location", location))
        .finish()
}

/// Adds the headers every page answer carries.
pub fn secure(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Cache-Control", "no-store"));
    builder
}

/// An error page (403, 404, 400…) in the site's layout.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub heading: String,
    pub message: String,
}

pub fn error_page(status: StatusCode, message: String) -> HttpResponse {
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let page = ErrorPage {
        chrome: Chrome::anonymous(),
        status: status.as_u16(),
        heading: heading.into(),
        message,
    };
    render_status(status, &page)
}
