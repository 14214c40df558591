//! sbx: a tmux-like terminal multiplexer for coding agents.

mod agents;
mod bridge;
mod cli;
mod client;
mod config;
mod connect;
mod keymap;
mod log;
mod mcp;
mod pane;
mod proc;
mod protocol;
mod relay;
mod server;
mod share;
mod ui;

fn main() {
    std::process::exit(cli::main());
}
