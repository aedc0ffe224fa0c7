//! `sansnet http`: the hello page, or the static file server with `--root`
//! (both from `sansnet-apps`).

use anyhow::Context;
use sansnet_apps::static_files::{self, Root};
use sansnet_apps::tls::{Limits as TlsLimits, anyone};
use sansnet_net::Transport;

use crate::cli::{Cli, HttpArgs};
use crate::server::{self, Plan};

/// Runs `sansnet http` until SIGINT or SIGTERM.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &HttpArgs) -> anyhow::Result<()> {
    // A TLS handshake gets the time a request head gets.
    let tls = TlsLimits::default().with_handshake_timeout(args.header_timeout);
    let plan = Plan::new(cli, args.bind.as_deref(), "127.0.0.1:8080", (&[b"http/1.1"], tls))?;
    let limits = args.limits(&cli.socket);
    match &args.root {
        None => server::run::<R, _>(plan, sansnet_apps::hello::factory(limits), anyone),
        Some(dir) => {
            let root = Root::new(dir).with_context(|| format!("--root {}", dir.display()))?;
            tracing::info!("serving files from {}", root.path().display());
            server::run::<R, _>(plan, static_files::factory::<R>(root, limits), anyone)
        }
    }
}
