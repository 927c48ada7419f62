//! Pure functions over one event, no I/O: normalize → (source maps) → scrub → group.
//! Everything here works on one `json::Value` tree in the canonical shape, borrowing its
//! strings from the payload it was parsed from.

pub mod bounds;
pub mod derive;
pub mod group;
pub mod json;
pub mod normalize;
pub mod scrub;
pub mod sourcemap;
