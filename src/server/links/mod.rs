//! The server's links to what runs beside it: the bridge thread, sharing, and friends'
//! machines.

pub mod bridge;
pub mod remote;
pub mod share;
