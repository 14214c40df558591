//! Sharing agent sessions with friends: identity, friends, local sessions, the sealed envelope
//! (echos wire format v1), and installing what arrives where the agent resumes it.

pub mod envelope;
pub mod friends;
pub mod identity;
pub mod install;
pub mod sessions;
