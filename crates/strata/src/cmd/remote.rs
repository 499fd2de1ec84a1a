//! `strata pull | push | search | login | logout | copy`, `strata manifest inspect`,
//! `strata image tags` (placeholder until the registry client lands).
use super::Ctx;
use clap::{Args, Subcommand};
/// Remote commands.
#[derive(Subcommand, Debug)]
pub enum RemoteCommand {}
/// Flags placeholder.
#[derive(Args, Debug)]
pub struct Unused {}
/// Runs a remote command.
pub fn run(cmd: RemoteCommand, _ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {}
}
