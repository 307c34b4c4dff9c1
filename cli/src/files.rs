//! Reading input files with a size bound, so a wrong path (a log, a device) never makes
//! the CLI read without limit.

use std::io::Read as _;
use std::path::Path;

/// Why a bounded read failed.
#[derive(Debug)]
pub enum BoundedReadError {
    TooLarge,
    Io(std::io::Error),
}

/// The path that means standard input, as in most Unix tools
/// (`kubectl get wasmplugin -o yaml | claimcheck validate -`).
pub const STDIN_PATH: &str = "-";

/// Reads a whole file (standard input for `-`), refusing more than `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    if path.as_os_str() == STDIN_PATH {
        return read_all(std::io::stdin().lock(), limit);
    }
    let file = std::fs::File::open(path).map_err(BoundedReadError::Io)?;
    read_all(file, limit)
}

fn read_all(reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(BoundedReadError::TooLarge);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_at_the_limit_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap().len(), 10);
        assert!(matches!(
            read_bounded(&path, 9),
            Err(BoundedReadError::TooLarge)
        ));
    }

    #[test]
    fn missing_file_is_an_io_error() {
        assert!(matches!(
            read_bounded(Path::new("/nonexistent/claimcheck/file"), 10),
            Err(BoundedReadError::Io(_))
        ));
    }
}
