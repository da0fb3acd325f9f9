//! Writes one image as the tarball that `crossplane xpkg build` writes (the
//! `docker save` format of go-containerregistry's `tarball` package), which
//! `crossplane xpkg push -f amd64.xpkg,arm64.xpkg` reads. The function's
//! images and the Configuration images use it alike.
//!
//! The archive contains the configuration as `sha256:<hex>`, each layer as
//! `<hex>.tar.gz` (hex of the compressed digest) and `manifest.json`, which
//! lists them. The format has no layer annotations: the configuration label
//! `io.crossplane.xpkg:sha256:<hex>` marks the base layer instead.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::image::Blob;
use crate::json;

/// One image in `manifest.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    /// `null`, as go-containerregistry writes it for an untagged image.
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Returns the archive of the image with configuration `config` and
/// compressed `layers`, every entry dated `mtime` (seconds since the Unix
/// epoch).
pub fn archive(config: &Blob, layers: &[Blob], mtime: u64) -> anyhow::Result<Vec<u8>> {
    let layer_names: Vec<String> = layers
        .iter()
        .map(|layer| format!("{}.tar.gz", layer.digest))
        .collect();
    let manifest = [ManifestEntry {
        config: config.digest_ref(),
        repo_tags: None,
        layers: layer_names.clone(),
    }];
    let manifest = json::to_canonical_vec(&manifest)?;

    let mut entries: Vec<(String, &[u8])> = vec![(config.digest_ref(), &config.bytes)];
    for (name, layer) in layer_names.into_iter().zip(layers) {
        entries.push((name, &layer.bytes));
    }
    entries.push(("manifest.json".to_owned(), &manifest));

    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in entries {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(&name)
            .with_context(|| format!("invalid archive entry name {name:?}"))?;
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_cksum();
        builder
            .append(&header, content)
            .with_context(|| format!("cannot add {name} to the archive"))?;
    }
    builder.into_inner().context("cannot finish the archive")
}

/// Writes the archive of the image with `config` and `layers` to `path`.
pub fn write(path: &Path, config: &Blob, layers: &[Blob], mtime: u64) -> anyhow::Result<()> {
    let bytes = archive(config, layers, mtime)?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::arch::Arch;
    use crate::image::tests::sample_image;

    #[test]
    fn archive_has_config_layers_and_manifest() {
        let image = sample_image(Arch::Arm64);
        let bytes = archive(&image.config, &image.layers, 0).unwrap();

        let mut entries = Vec::new();
        for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let name = entry.path().unwrap().display().to_string();
            assert_eq!(entry.header().mode().unwrap(), 0o644, "{name}");
            assert_eq!(entry.header().mtime().unwrap(), 0, "{name}");
            entries.push((name, content));
        }

        let config_name = format!("sha256:{}", image.config.digest);
        let layer_names: Vec<String> = image
            .layers
            .iter()
            .map(|layer| format!("{}.tar.gz", layer.digest))
            .collect();
        let expected_manifest = format!(
            r#"[{{"Config":"{config_name}","Layers":["{}","{}"],"RepoTags":null}}]"#,
            layer_names[0], layer_names[1]
        );
        assert_eq!(
            entries,
            [
                (config_name, image.config.bytes.clone()),
                (layer_names[0].clone(), image.layers[0].bytes.clone()),
                (layer_names[1].clone(), image.layers[1].bytes.clone()),
                ("manifest.json".to_owned(), expected_manifest.into_bytes()),
            ]
        );
    }
}
