//! The `gateway` binary: everything lives in the library; see `gateway::cli`.

// mimalloc: the request path builds and drops many small JSON values; glibc malloc showed up as a
// quarter of the CPU profile of a list page (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match gateway::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
