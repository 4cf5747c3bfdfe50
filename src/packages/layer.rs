//! OCI image layers: tar, tar+gzip or tar+zstd, applied on top of a root with whiteouts.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};

use super::compress::decompress;
use super::extract::{Extractor, Options};
use super::tarball::{Whiteouts, read_tar};

/// Applies the layer at `path` onto `root` (created if missing).
pub fn apply(path: &Path, root: &Path, options: Options) -> Result<()> {
    let label = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open {label}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut extractor = Extractor::new(root, &label, options)?;
    extractor.set_input_size(size);
    let stream =
        decompress(BufReader::new(file)).with_context(|| format!("{label}: cannot decompress"))?;
    read_tar(stream, &mut extractor, Whiteouts::Apply, &label)?;
    extractor.finish()?;
    Ok(())
}
