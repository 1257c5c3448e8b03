//! `plaza-loadtest` binary: parses the options, starts the runtime and the
//! hard deadline, runs one scenario, prints the table (or `--json`).

use std::time::Duration;

use clap::Parser;
use plaza_loadtest::cli::{Cli, Common, Scenario};
use plaza_loadtest::scenario::{arena, idle, storm, RunError};

/// Exit code when the hard deadline ends the run.
const EXIT_DEADLINE: i32 = 3;
/// Exit code for a run that could not start.
const EXIT_RUN_ERROR: i32 = 2;

fn main() {
    let cli = Cli::parse();
    let common: Common = match &cli.scenario {
        Scenario::Arena(a) => a.common.clone(),
        Scenario::Idle(a) => a.common.clone(),
        Scenario::Storm(a) => a.common.clone(),
    };
    let threads = if common.threads > 0 {
        common.threads
    } else {
        // Respects `taskset`: pinned to one CPU, this is 1.
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    };
    // The deadline lives outside the runtime so a wedged runtime cannot
    // outlive it.
    let max_wall = common.max_wall_s;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(max_wall.max(1.0)));
        eprintln!("plaza-loadtest: hard deadline of {max_wall} s reached; exiting");
        std::process::exit(EXIT_DEADLINE);
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plaza-loadtest: runtime: {e}");
            std::process::exit(EXIT_RUN_ERROR);
        }
    };
    let result: Result<(String, serde_json::Value), RunError> = rt.block_on(async {
        match cli.scenario {
            Scenario::Arena(a) => arena::run(a, threads)
                .await
                .map(|r| (r.table(), to_json(&r))),
            Scenario::Idle(a) => idle::run(a, threads)
                .await
                .map(|r| (r.table(), to_json(&r))),
            Scenario::Storm(a) => storm::run(a).await.map(|r| (r.table(), to_json(&r))),
        }
    });
    match result {
        Ok((table, json)) => {
            let text = serde_json::to_string_pretty(&json).unwrap_or_default();
            if let Some(path) = &common.out {
                if let Err(e) = std::fs::write(path, &text) {
                    eprintln!("plaza-loadtest: cannot write {}: {e}", path.display());
                }
            }
            if common.json {
                println!("{text}");
            } else {
                println!("{table}");
            }
            // Client tasks still closing must not hold the process.
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        Err(e) => {
            eprintln!("plaza-loadtest: {e}");
            std::process::exit(EXIT_RUN_ERROR);
        }
    }
}

fn to_json<T: serde::Serialize>(r: &T) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or(serde_json::Value::Null)
}
