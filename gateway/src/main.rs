//! The `gateway` binary: everything lives in the library; see `gateway::cli`.
fn main() -> std::process::ExitCode {
    match gateway::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
