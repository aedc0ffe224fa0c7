//! `sansnet http`: the hello page, or a static file server with `--root`.
//!
//! Both are [`App`](sansnet_proto::App)s over the core's
//! [`ServerConn`]: the connection machine parses, frames and rejects; the
//! apps only answer complete requests.

use anyhow::{Context, bail};
use sansnet_proto::http::ServerConn;

use crate::cli::{Cli, HttpArgs};
use crate::server::{self, Plan};
use sansnet_net::Transport;

mod date;
mod files;
mod hello;
mod html;
mod mime;
mod path;
mod range;

#[cfg(test)]
mod testing;

pub(crate) use files::FileServer;
pub(crate) use hello::Hello;

/// Runs `sansnet http` until SIGINT or SIGTERM.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &HttpArgs) -> anyhow::Result<()> {
    let plan = Plan {
        endpoint: cli.socket.endpoint(args.bind.as_deref(), "127.0.0.1:8080")?,
        config: cli.socket.server_config(),
        verbose: cli.verbose > 0,
    };
    let limits = args.limits(&cli.socket);
    match &args.root {
        None => server::run::<R>(plan, move |now, _peer: &str| {
            (ServerConn::new(limits, now), Hello::new())
        }),
        Some(dir) => {
            let root =
                std::fs::canonicalize(dir).with_context(|| format!("--root {}", dir.display()))?;
            if !root.is_dir() {
                bail!("--root {}: not a directory", dir.display());
            }
            tracing::info!("serving files from {}", root.display());
            let root = files::Root::new(root);
            server::run::<R>(plan, move |now, _peer: &str| {
                (ServerConn::new(limits, now), FileServer::new(root.clone()))
            })
        }
    }
}
