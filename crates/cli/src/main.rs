//! `crossgate`: the command line of the crossgate CORS toolkit. One module per subcommand; this
//! file parses the arguments, runs the subcommand and turns its outcome into an exit status.

mod audit;
mod check;
mod check_policy;
mod export;
mod origin;
mod outcome;
mod output;
mod proxy;
mod simulate;
mod transport;
mod validate;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Status;

const LONG_ABOUT: &str = "\
crossgate: Cross-Origin Resource Sharing (CORS), exactly as the Fetch standard says.

Every subcommand prints text for people by default and JSON with --json.
Exit status: 0 all good, 1 the thing checked failed (an invalid policy, a blocked request…),
2 a usage or I/O error (printed as `crossgate: <error>` on stderr).";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "crossgate",
    version,
    about = "CORS toolkit: origins, policies, live checks, simulations, audits and a CORS proxy",
    long_about = LONG_ABOUT,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. Adding one: a module with `Args` and `run`, a variant here, an arm in `run`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Origins and sites of URLs; is the first same-origin and same-site with the others, and why
    #[command(long_about = origin::LONG_ABOUT)]
    Origin(origin::Args),
    /// Check a policy file: every error and warning, each with its fix
    #[command(long_about = validate::LONG_ABOUT)]
    Validate(validate::Args),
    /// What a browser does with a cross-origin fetch() of a live URL, step by step, and the fix
    #[command(long_about = check::LONG_ABOUT)]
    Check(check::Args),
    /// What a browser does with each scenario of a file (canned answers), as JSON or explained
    #[command(long_about = simulate::LONG_ABOUT)]
    Simulate(simulate::Args),
    /// Probe live URLs for exploitable CORS misconfigurations; text, JSON or SARIF
    #[command(long_about = audit::LONG_ABOUT)]
    Audit(audit::Args),
    /// A CORS proxy: in front of one API (--upstream), or for any public URL (anywhere mode)
    #[command(long_about = proxy::LONG_ABOUT)]
    Proxy(Box<proxy::Args>),
    /// Render a policy file for nginx, Caddy, Apache, Express, FastAPI or S3, saying how each differs
    #[command(long_about = export::LONG_ABOUT)]
    Export(export::Args),
}

fn run(command: &Command, out: &mut dyn Write) -> anyhow::Result<Status> {
    match command {
        Command::Origin(args) => origin::run(args, out),
        Command::Validate(args) => validate::run(args, out),
        Command::Check(args) => check::run(args, out),
        Command::Simulate(args) => simulate::run(args, out),
        Command::Audit(args) => audit::run(args, out),
        Command::Proxy(args) => proxy::run(args, out),
        Command::Export(args) => export::run(args, out),
    }
}

fn main() -> ExitCode {
    // Usage errors, --help and --version: clap prints them and exits (2 for a usage error).
    let cli = Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let result = run(&cli.command, &mut out).and_then(|status| {
        out.flush()?;
        Ok(status)
    });
    match result {
        Ok(status) => status.into(),
        // The reader went away (`| head -1`): nothing more to say to anyone.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Whatever was printed before the error goes out first; a failure here is moot.
            let _ = out.flush();
            // Not eprintln!, which panics if stderr is gone.
            let _ = writeln!(io::stderr().lock(), "crossgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
