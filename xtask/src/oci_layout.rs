//! Writes images as an OCI image layout: `oci-layout`, `index.json` and
//! `blobs/sha256/<digest>`, readable by skopeo, umoci, crane and others.

use std::path::Path;

use anyhow::Context;
use oci_spec::image::{ANNOTATION_REF_NAME, ImageIndexBuilder, MediaType, SCHEMA_VERSION};

use crate::image::{Blob, Image};
use crate::json;

/// Replaces `dir` with a layout whose `index.json` names the multi-platform
/// `index` as `tag`, so `oci:<dir>:<tag>` refers to it.
pub fn write(dir: &Path, images: &[Image], index: &Blob, tag: &str) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let blobs_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs_dir)
        .with_context(|| format!("cannot create {}", blobs_dir.display()))?;

    let mut blobs: Vec<&Blob> = vec![index];
    for image in images {
        blobs.push(&image.manifest);
        blobs.push(&image.config);
        blobs.extend(&image.layers);
    }
    for blob in blobs {
        let path = blobs_dir.join(&blob.digest);
        std::fs::write(&path, &blob.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let layout = serde_json::json!({ "imageLayoutVersion": "1.0.0" });
    write_file(&dir.join("oci-layout"), &json::to_canonical_vec(&layout)?)?;

    let top = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![index.descriptor(&[(ANNOTATION_REF_NAME, tag)])?])
        .build()
        .context("cannot build index.json")?;
    write_file(&dir.join("index.json"), &json::to_canonical_vec(&top)?)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::image::{self, tests::sample_image};
    use crate::layer::sha256_hex;

    #[test]
    fn layout_stores_blobs_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("oci");
        std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        std::fs::write(layout.join("blobs/sha256/stale"), b"from an earlier run").unwrap();
        let images = [sample_image(Arch::Amd64), sample_image(Arch::Arm64)];
        let index = image::index(&images).unwrap();

        write(&layout, &images, &index, "v0.1.0").unwrap();

        assert_eq!(
            std::fs::read_to_string(layout.join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        assert_eq!(
            std::fs::read_to_string(layout.join("index.json")).unwrap(),
            format!(
                r#"{{"manifests":[{{"annotations":{{"org.opencontainers.image.ref.name":"v0.1.0"}},"digest":"{}","mediaType":"application/vnd.oci.image.index.v1+json","size":{}}}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}}"#,
                index.digest_ref(),
                index.size()
            )
        );

        let mut names: Vec<String> = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // Index, then per image: manifest, config and two layers. Both
        // images share the base layer, so it is stored once.
        assert_eq!(names.len(), 1 + 2 * 4 - 1, "{names:?}");
        for name in names {
            let bytes = std::fs::read(layout.join("blobs/sha256").join(&name)).unwrap();
            assert_eq!(sha256_hex(&bytes), name, "blob stored under another digest");
        }
    }
}
