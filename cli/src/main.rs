//! `onecount`: the operator CLI. Same adapter as the Lambda functions; the endpoint comes
//! from `AWS_ENDPOINT_URL`, so one binary talks to AWS or to the local emulator.

mod args;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    // `onecount … | head` ends quietly, as other command-line tools do, instead of a
    // panic about a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: clap's opening paragraph says what is wrong; one line, exit 2.
            let text = e.render().to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            eprintln!("{} (see --help)", what.join(" "));
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Demo(_) | Command::Bench(_)) {
        onecount::telemetry::init_cli_at("error");
    } else {
        onecount::telemetry::init_cli();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(cmd::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, with hints for the usual local mistakes.
fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    if text.contains("ResourceNotFoundException") {
        return format!("{text} (does the table exist? create it with `onecount init`)");
    }
    if text.contains("dispatch failure")
        || text.contains("Connection refused")
        || text.contains("timed out")
    {
        let ep =
            onecount::aws::endpoint_url().unwrap_or_else(|| "AWS (no AWS_ENDPOINT_URL set)".into());
        return format!("cannot reach DynamoDB at {ep}: {text}");
    }
    text
}
