//! `claimcheck-echo [--listen 127.0.0.1:10001]`: the demo upstream. Answers every request with a
//! JSON document of the method, path and headers it received, so you can see what claimcheck
//! forwarded (identity headers) and removed (the token, forged identity headers).

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

/// The demo's upstream address (envoy-config/demo.yaml, cluster `echo`).
const DEFAULT_LISTEN: &str = "127.0.0.1:10001";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(addr)) => listen = addr,
            _ => {
                eprintln!("usage: claimcheck-echo [--listen 127.0.0.1:PORT]");
                return ExitCode::from(2);
            }
        }
    }
    let server = match claimcheck_e2e::echo::start(&listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("claimcheck-echo: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("claimcheck-echo listening on http://{}", server.addr());
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
