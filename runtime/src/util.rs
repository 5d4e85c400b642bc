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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_only_the_final_file() {
        let dir = std::env::temp_dir().join(format!("protocrash-util-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir, "entry", b"complete").unwrap();
        write_atomic(&dir, "entry", b"replaced whole").unwrap();
        let names: Vec<String> =
            fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["entry".to_string()]);
        assert_eq!(fs::read(dir.join("entry")).unwrap(), b"replaced whole");
        // A failed write (no such directory) leaves nothing behind either.
        assert!(write_atomic(&dir.join("missing"), "x", b"y").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
