//! Small helpers shared by the runtime's modules: wall-clock milliseconds and atomic file
//! writes (temp name, then rename), the only way the runtime writes into the sync dir.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Writes `data` to `dir/name` so that no reader ever sees a partial file: it goes to a
/// `.tmp-` name in the same directory first, then is renamed into place.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{}{}-{}", protocrash_proto::naming::TEMP_PREFIX, name, std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
