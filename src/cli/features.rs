//! `obsbox features`: the runtime-spec features document.

use anyhow::Result;
use serde_json::Value;

pub fn features() -> Result<()> {
    let mut features = serde_json::to_value(crate::runtime::features::features()?)?;
    // An absent field means "unknown" in the features document; null is not valid there.
    strip_nulls(&mut features);
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}

fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}
