//! Lays out the `obsbox` binary's code in the order the OCI runtime's commands first run it
//! (`link/code-order.txt`, made by `integration/code-order.sh`), so that a runtime command
//! maps a small part of the binary instead of most of it (see that script).
//!
//! Also packs the binary's relative relocations. Only where rustc links with lld by default
//! (x86_64 GNU/Linux): the options are lld's.

fn main() {
    println!("cargo:rerun-if-changed=link/code-order.txt");
    let target = |key: &str| std::env::var(format!("CARGO_CFG_TARGET_{key}")).unwrap_or_default();
    if target("ARCH") != "x86_64" || target("OS") != "linux" || target("ENV") != "gnu" {
        return;
    }
    // Relative relocations packed (DT_RELR, glibc ≥ 2.36): ≈ 20,000 of them in 24 bytes each
    // would be read in full by the dynamic loader at every start (≈ 470 KiB mapped).
    println!("cargo:rustc-link-arg-bin=obsbox=-Wl,-z,pack-relative-relocs");
    let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("link/code-order.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=obsbox=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names the code no longer has are expected (the file is made now and then).
        println!("cargo:rustc-link-arg-bin=obsbox=-Wl,--no-warn-symbol-ordering");
    }
}
