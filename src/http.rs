//! The HTTP vocabulary handlers speak, on actix-web: extractors for the shared state, path
//! parameters, query strings and the request URI, and one `IntoResponse` for the shapes
//! handlers answer with. Extraction failures become the same JSON errors as the handlers'.

use std::future::{Ready, ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use actix_web::HttpResponse as Response;
pub use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use actix_web::http::{Method, StatusCode, Uri};
pub use actix_web::web::{Bytes, Json};

use crate::client_addr::{TrustedProxies, client_address};
use crate::errors::ApiError;
use crate::state::AppState;

/// The client's address: the TCP peer, or behind a trusted reverse proxy the address it
/// forwarded (`client_addr::client_address`). A connection without a peer address (not
/// TCP) counts as unspecified; a header that is not text counts as malformed.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let forwarded: Result<Vec<&str>, _> = req
        .headers()
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .map(HeaderValue::to_str)
        .collect();
    match forwarded {
        Ok(values) => client_address(peer, &values, trusted),
        Err(_) => peer.to_canonical(),
    }
}

/// The shared state, registered once with the app.
pub struct State<T>(pub T);

impl FromRequest for State<AppState> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app_state(req).map(State))
    }
}

/// The app's state; a request outside the app has none, which is a bug, not the client's.
pub fn app_state(req: &HttpRequest) -> Result<AppState, ApiError> {
    req.app_data::<AppState>().cloned().ok_or(ApiError::Internal)
}

/// The route's path parameters; one that does not parse means no such resource.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Path<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let path = actix_web::web::Path::<T>::from_request(req, payload).into_inner();
        ready(path.map(|p| Path(p.into_inner())).map_err(|_| ApiError::NotFound))
    }
}

/// The query string, deserialized; a malformed one is a 400 with a detail.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            serde_urlencoded::from_str::<T>(req.query_string())
                .map(Query)
                .map_err(|e| ApiError::BadRequest(format!("Failed to deserialize query string: {e}"))),
        )
    }
}

/// The raw query string, if any.
pub struct RawQuery(pub Option<String>);

impl FromRequest for RawQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let q = req.uri().query().map(str::to_string);
        ready(Ok(RawQuery(q)))
    }
}

/// The request URI as the client sent it (pagination links keep its query).
pub struct RequestUri(pub Uri);

impl FromRequest for RequestUri {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(RequestUri(req.uri().clone())))
    }
}

/// Turns the shapes handlers build into a response.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::Ok().json(self.0)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::Ok().body(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::Ok().body(self)
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl<R: IntoResponse, const N: usize> IntoResponse for ([(HeaderName, &'static str); N], R) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        for (name, value) in self.0 {
            response.headers_mut().insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
