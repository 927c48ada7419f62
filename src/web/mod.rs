pub mod problem;
pub mod view;
