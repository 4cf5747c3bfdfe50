//! The `obsbox` binary: the command line (parsed, sealed, dispatched by [`obsbox::cli::main`])
//! and its exit code. Everything else lives in the library.

fn main() {
    std::process::exit(obsbox::cli::main(std::env::args_os().collect()));
}
