//! View models of the pages: pure functions from the store's rows and an event's JSON to
//! what templates show (no I/O, no HTTP), so they are tested on their own.

pub mod details;
pub mod frames;
pub mod grouping;
pub mod meta;
pub mod snippets;
pub mod sparkline;
pub mod stream;
pub mod tags;
pub mod time;
