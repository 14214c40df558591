//! The server's links to what runs beside it: the bridge thread and sharing.

pub mod bridge;
pub mod share;
