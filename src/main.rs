//! The `obsbox` binary: seal, parse, dispatch, exit code. Everything else lives in the library.

fn main() {
    // bs_worker's programs (`build`, `--hostcheck`) take their own command lines.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = obsbox::cli::worker_entry(&argv) {
        std::process::exit(code);
    }
    // CVE-2019-5736 class: a container process must never be able to reopen the binary that
    // set it up and overwrite it. Commands that fork into a container re-execute from a
    // sealed binary (runtime::seal); this must happen before anything else.
    if obsbox::cli::needs_sealed_exe(std::env::args_os().skip(1)) {
        // These commands put processes into cgroups: start the kernel's wait for that now,
        // once (not again in the sealed re-execution).
        if !obsbox::runtime::seal::is_sealed() {
            // SAFETY: nothing has started a thread yet.
            unsafe { obsbox::runtime::attach_warmup::start() };
        }
        if let Err(err) = obsbox::runtime::seal::ensure_sealed() {
            eprintln!("obsbox: error: {err:#}");
            std::process::exit(1);
        }
    }
    let opts = obsbox::cli::parse();
    std::process::exit(obsbox::cli::dispatch(opts));
}
