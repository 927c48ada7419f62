//! The stylesheet, script and icon, compiled into the binary and served under names that
//! carry a hash of their content, so browsers may keep them for a year: a new build with a
//! changed file gets a new name.

use std::sync::LazyLock;

use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

use super::WebError;

/// One compiled-in file.
struct Asset {
    /// The name in `assets/`, e.g. `app.css`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/icon.svg"),
    },
];

/// The URLs of the assets, for templates (`chrome.assets.css`).
#[derive(Debug)]
pub struct AssetUrls {
    pub css: String,
    pub js: String,
    pub icon: String,
}

/// Each asset's served name (`app.3f2a…9c.css`), in the order of `ASSETS`.
static HASHED: LazyLock<Vec<String>> = LazyLock::new(|| ASSETS.iter().map(hashed_name).collect());

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| AssetUrls {
    css: url_of("app.css"),
    js: url_of("app.js"),
    icon: url_of("icon.svg"),
});

pub fn urls() -> &'static AssetUrls {
    &URLS
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // NormalizePath gives every path a trailing slash, file names included.
    cfg.route("/_static/{file}/", web::get().to(serve));
}

async fn serve(file: web::Path<String>) -> Result<HttpResponse, WebError> {
    let index = HASHED.iter().position(|h| *h == *file).ok_or(WebError::NotFound)?;
    let asset = &ASSETS[index];
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Type", asset.content_type))
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(asset.bytes))
}

fn url_of(name: &str) -> String {
    let index = ASSETS.iter().position(|a| a.name == name).unwrap_or(0);
    format!("/_static/{}", HASHED[index])
}

/// `app.css` → `app.<12 hex of its SHA-256>.css`.
fn hashed_name(asset: &Asset) -> String {
    let digest = hex::encode(Sha256::digest(asset.bytes));
    let (stem, ext) = asset.name.rsplit_once('.').unwrap_or((asset.name, ""));
    format!("{stem}.{}.{ext}", &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_carry_the_content_hash() {
        let urls = urls();
        assert!(urls.css.starts_with("/_static/app.") && urls.css.ends_with(".css"));
        assert_eq!(urls.css.len(), "/_static/app..css".len() + 12);
        assert_ne!(urls.css, urls.js);
    }
}
