//! `obsbox features`: the runtime-spec features document.

use anyhow::Result;

pub fn features() -> Result<()> {
    let features = crate::runtime::features::features()?;
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}
