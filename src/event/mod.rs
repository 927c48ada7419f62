//! Pure functions over one event, no I/O: normalize → (source maps) → scrub → group.
//! Everything here takes and returns `serde_json::Value` in the canonical shape.

pub mod bounds;
pub mod derive;
pub mod group;
pub mod json;
pub mod normalize;
pub mod scrub;
pub mod sourcemap;
