//! Reproducible image layers: a tar archive with fixed owners, modes and
//! times, entries in path order, compressed by gzip with a fixed header.

use std::io::Write;

use anyhow::Context;
use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

/// The gzip header's operating system field: 255, "unknown", as Go's gzip
/// writer sets it, so the header does not depend on the build machine.
const GZIP_OS_UNKNOWN: u8 = 255;

/// One file or directory of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, without a leading `/`; directories end with `/`.
    pub path: String,
    /// Permission bits, e.g. `0o755`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The file's content; `None` for a directory.
    pub content: Option<Vec<u8>>,
}

impl Entry {
    pub fn directory(path: &str, mode: u32) -> Entry {
        Entry {
            path: path.to_owned(),
            mode,
            uid: 0,
            gid: 0,
            content: None,
        }
    }

    pub fn file(path: &str, mode: u32, content: Vec<u8>) -> Entry {
        Entry {
            path: path.to_owned(),
            mode,
            uid: 0,
            gid: 0,
            content: Some(content),
        }
    }
}

/// A gzip-compressed layer and its two digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob, as stored and pushed.
    pub compressed: Vec<u8>,
    /// Hex SHA-256 of the compressed blob: the layer's digest in manifests.
    pub digest: String,
    /// Hex SHA-256 of the uncompressed tar: the layer's diff ID in the image
    /// configuration.
    pub diff_id: String,
}

/// Builds a layer from `entries`, which may come in any order: the archive
/// lists them by path, so parents precede their children. Every entry gets
/// `mtime` (seconds since the Unix epoch) as its modification time.
pub fn build(entries: &[Entry], mtime: u64) -> anyhow::Result<Layer> {
    let archive = tar_archive(entries, mtime)?;
    let compressed = gzip(&archive)?;
    Ok(Layer {
        digest: sha256_hex(&compressed),
        diff_id: sha256_hex(&archive),
        compressed,
    })
}

/// Writes `entries` as a ustar archive, sorted by path.
pub fn tar_archive(entries: &[Entry], mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));

    let mut builder = tar::Builder::new(Vec::new());
    for entry in sorted {
        let content = entry.content.as_deref().unwrap_or_default();
        let mut header = tar::Header::new_ustar();
        header
            .set_path(&entry.path)
            .with_context(|| format!("invalid path in layer: {:?}", entry.path))?;
        header.set_entry_type(match entry.content {
            Some(_) => tar::EntryType::Regular,
            None => tar::EntryType::Directory,
        });
        header.set_size(content.len() as u64);
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(mtime);
        header.set_cksum();
        builder
            .append(&header, content)
            .with_context(|| format!("cannot add {} to the layer", entry.path))?;
    }
    builder
        .into_inner()
        .context("cannot finish the layer's tar archive")
}

/// Compresses `data` at the best compression level, with a header that
/// carries no time and no file name.
pub fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::best());
    encoder.write_all(data).context("cannot compress a layer")?;
    encoder.finish().context("cannot compress a layer")
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut hex = String::with_capacity(64);
    for byte in hash {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample_entries() -> Vec<Entry> {
        let mut binary = Entry::file("usr/local/bin/app", 0o755, b"\x7fELF...".to_vec());
        binary.uid = 65532;
        vec![
            binary,
            Entry::directory("usr/", 0o755),
            Entry::file(
                "etc/passwd",
                0o644,
                b"root:x:0:0::/:/sbin/nologin\n".to_vec(),
            ),
            Entry::directory("usr/local/bin/", 0o755),
            Entry::directory("etc/", 0o755),
            Entry::directory("usr/local/", 0o755),
        ]
    }

    #[test]
    fn layer_is_independent_of_entry_order() {
        let entries = sample_entries();
        let mut reversed = entries.clone();
        reversed.reverse();

        let first = build(&entries, 0).unwrap();
        let second = build(&reversed, 0).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn layer_lists_entries_by_path_with_fixed_metadata() {
        let layer = build(&sample_entries(), 1_700_000_000).unwrap();

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&layer.compressed[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            seen.push((
                entry.path().unwrap().to_string_lossy().into_owned(),
                header.mode().unwrap(),
                header.uid().unwrap(),
                header.gid().unwrap(),
                header.mtime().unwrap(),
                content.len(),
            ));
        }

        let expected = vec![
            ("etc/".to_owned(), 0o755, 0, 0, 1_700_000_000, 0),
            ("etc/passwd".to_owned(), 0o644, 0, 0, 1_700_000_000, 28),
            ("usr/".to_owned(), 0o755, 0, 0, 1_700_000_000, 0),
            ("usr/local/".to_owned(), 0o755, 0, 0, 1_700_000_000, 0),
            ("usr/local/bin/".to_owned(), 0o755, 0, 0, 1_700_000_000, 0),
            (
                "usr/local/bin/app".to_owned(),
                0o755,
                65532,
                0,
                1_700_000_000,
                7,
            ),
        ];
        assert_eq!(seen, expected);
    }

    #[test]
    fn layer_digests_match_blobs() {
        let layer = build(&sample_entries(), 0).unwrap();

        let mut archive = Vec::new();
        flate2::read::GzDecoder::new(&layer.compressed[..])
            .read_to_end(&mut archive)
            .unwrap();
        assert_eq!(layer.digest, sha256_hex(&layer.compressed));
        assert_eq!(layer.diff_id, sha256_hex(&archive));
        assert_eq!(archive, tar_archive(&sample_entries(), 0).unwrap());
    }

    #[test]
    fn gzip_header_has_no_time_or_name() {
        let compressed = gzip(b"package.yaml content").unwrap();

        assert_eq!(
            &compressed[0..3],
            &[0x1f, 0x8b, 8],
            "gzip magic and deflate"
        );
        assert_eq!(
            compressed[3], 0,
            "no flags: no file name, comment or extra field"
        );
        assert_eq!(&compressed[4..8], &[0, 0, 0, 0], "modification time 0");
        assert_eq!(compressed[9], GZIP_OS_UNKNOWN, "operating system unknown");
    }

    #[test]
    fn sha256_hex_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
