//! The images of the Configuration packages under `catalog/`.
//!
//! A Configuration has no runtime, so its image has a single layer: the base
//! layer with `package.yaml`. The image configuration has the fields that
//! `crossplane xpkg build` writes for a Configuration, which it builds on
//! go-containerregistry's empty image: an empty `architecture` and `os`,
//! because the image runs on no platform, and the label
//! `io.crossplane.xpkg:sha256:<layer digest>: base`. The image is written only
//! as a `.xpkg` tarball, not into the function's OCI layout.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, MediaType, Os, RootFsBuilder,
};

use crate::docker_archive;
use crate::image::{self, Blob, XPKG_BASE};
use crate::json;
use crate::timestamp::Timestamp;

/// One Configuration package of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogPackage {
    /// The folder with `crossplane.yaml`, relative to the workspace root.
    pub dir: &'static str,
    /// The file written in `target/xpkg/`.
    pub file_name: &'static str,
}

/// The fleet API with a claim for Crossplane 1.x and 2.x, and the namespaced
/// fleet API for Crossplane 2.
pub const CATALOG: [CatalogPackage; 2] = [
    CatalogPackage {
        dir: "catalog",
        file_name: "configuration.xpkg",
    },
    CatalogPackage {
        dir: "catalog/namespaced",
        file_name: "configuration-namespaced.xpkg",
    },
];

/// The history entry of the base layer. The same text for `cargo xtask
/// package` and `cargo xtask configuration`, so both write the same bytes.
const HISTORY_CREATED_BY: &str = "cargo xtask: package.yaml of a Configuration";

/// The contents and metadata of a Configuration image.
#[derive(Debug, Clone)]
pub struct ConfigurationInput<'a> {
    /// The package's YAML stream.
    pub package_yaml: &'a [u8],
    /// The time recorded as the image's creation and the file's change.
    pub created: Timestamp,
    /// Labels for the configuration besides the package's, e.g.
    /// `org.opencontainers.image.source`.
    pub labels: &'a BTreeMap<String, String>,
}

/// The image of a Configuration package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationImage {
    pub config: Blob,
    /// The base layer with `package.yaml`, the image's only layer.
    pub layers: [Blob; 1],
}

impl ConfigurationImage {
    /// Builds the image of one Configuration package.
    pub fn build(input: &ConfigurationInput) -> anyhow::Result<ConfigurationImage> {
        let created = input.created.rfc3339();
        let base = image::base_layer(input.package_yaml, input.created.0)?;

        let mut labels: HashMap<String, String> = input
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        labels.insert(image::base_layer_label(&base.digest), XPKG_BASE.to_owned());

        let history = HistoryBuilder::default()
            .created(created.clone())
            .created_by(HISTORY_CREATED_BY)
            .build()
            .context("cannot build a history entry")?;
        let configuration = ImageConfigurationBuilder::default()
            .created(created)
            .architecture(Arch::Other(String::new()))
            .os(Os::Other(String::new()))
            .config(
                ConfigBuilder::default()
                    .labels(labels)
                    .build()
                    .context("cannot build the Configuration image's config")?,
            )
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![format!("sha256:{}", base.diff_id)])
                    .build()
                    .context("cannot build the root file system")?,
            )
            .history(vec![history])
            .build()
            .context("cannot build the image configuration")?;

        Ok(ConfigurationImage {
            config: Blob::new(
                MediaType::ImageConfig,
                json::to_canonical_vec(&configuration)?,
            ),
            layers: [Blob::new(MediaType::ImageLayerGzip, base.compressed)],
        })
    }

    /// Bytes a client downloads: configuration and compressed layer.
    pub fn compressed_size(&self) -> u64 {
        self.config.size() + self.layers[0].size()
    }

    /// Writes the image to `path` as a `crossplane xpkg push -f`-able
    /// tarball, every entry dated `mtime` (seconds since the Unix epoch).
    pub fn write(&self, path: &Path, mtime: u64) -> anyhow::Result<()> {
        docker_archive::write(path, &self.config, &self.layers, mtime)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;
    use crate::layer;
    use crate::package_yaml;

    const STREAM: &[u8] =
        b"---\napiVersion: meta.pkg.crossplane.io/v1\nkind: Configuration\nmetadata:\n  name: config\n";

    fn labels() -> BTreeMap<String, String> {
        [
            ("org.opencontainers.image.title", "config"),
            ("org.opencontainers.image.version", "0.1.0"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    fn sample_image(package_yaml: &[u8]) -> ConfigurationImage {
        ConfigurationImage::build(&ConfigurationInput {
            package_yaml,
            created: Timestamp(1_700_000_000),
            labels: &labels(),
        })
        .unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut data)
            .unwrap();
        data
    }

    /// Returns each `(path, mode, content)` of a tar archive.
    fn tar_files(archive: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut files = Vec::new();
        for entry in tar::Archive::new(archive).entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            let mode = entry.header().mode().unwrap();
            files.push((entry.path().unwrap().display().to_string(), mode, content));
        }
        files
    }

    fn repository_dir(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(relative)
    }

    #[test]
    fn config_has_no_platform_and_labels_base_layer() {
        let image = sample_image(STREAM);
        let config: Value = serde_json::from_slice(&image.config.bytes).unwrap();

        let layer = &image.layers[0];
        let diff_id = format!("sha256:{}", layer::sha256_hex(&gunzip(&layer.bytes)));
        let label = format!("io.crossplane.xpkg:sha256:{}", layer.digest);
        assert_eq!(
            config,
            json!({
                "architecture": "",
                "os": "",
                "created": "2023-11-14T22:13:20Z",
                "config": {
                    "Labels": {
                        label: "base",
                        "org.opencontainers.image.title": "config",
                        "org.opencontainers.image.version": "0.1.0",
                    },
                },
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{
                    "created": "2023-11-14T22:13:20Z",
                    "created_by": "cargo xtask: package.yaml of a Configuration",
                }],
            })
        );
    }

    #[test]
    fn layer_contains_only_package_yaml() {
        let image = sample_image(STREAM);

        assert_eq!(image.layers[0].media_type, MediaType::ImageLayerGzip);
        assert_eq!(
            tar_files(&gunzip(&image.layers[0].bytes)),
            [("package.yaml".to_owned(), 0o644, STREAM.to_vec())]
        );
    }

    #[test]
    fn image_bytes_do_not_depend_on_map_order() {
        // Each HashMap of labels gets its own random seed, so two builds in
        // one process order the labels differently unless the JSON is
        // canonical.
        let first = sample_image(STREAM);
        for _ in 0..8 {
            assert_eq!(sample_image(STREAM), first);
        }
    }

    #[test]
    fn written_files_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let paths = [
            dir.path().join("first.xpkg"),
            dir.path().join("second.xpkg"),
        ];

        for path in &paths {
            sample_image(STREAM).write(path, 1_700_000_000).unwrap();
        }

        let first = std::fs::read(&paths[0]).unwrap();
        assert!(!first.is_empty());
        assert_eq!(first, std::fs::read(&paths[1]).unwrap());
    }

    #[test]
    fn catalog_tarballs_contain_catalog_folders() {
        for package in CATALOG {
            let dir = repository_dir(package.dir);
            let assembled = package_yaml::assemble_configuration(&dir).unwrap();
            let image = ConfigurationImage::build(&ConfigurationInput {
                package_yaml: &assembled.stream,
                created: Timestamp(0),
                labels: &BTreeMap::new(),
            })
            .unwrap();
            let output = tempfile::tempdir().unwrap();
            let path = output.path().join(package.file_name);
            image.write(&path, 0).unwrap();

            // The archive, read the way go-containerregistry's tarball
            // package reads it: manifest.json names the config and layers.
            let files: BTreeMap<String, Vec<u8>> = tar_files(&std::fs::read(&path).unwrap())
                .into_iter()
                .map(|(name, _, content)| (name, content))
                .collect();
            let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
            let config_name = manifest[0]["Config"].as_str().unwrap();
            let layer_names = manifest[0]["Layers"].as_array().unwrap();
            assert_eq!(manifest.as_array().unwrap().len(), 1, "{}", package.dir);
            assert_eq!(manifest[0]["RepoTags"], Value::Null, "{}", package.dir);
            assert_eq!(layer_names.len(), 1, "{}: one layer", package.dir);
            assert_eq!(files.len(), 3, "{}: config, layer, manifest", package.dir);

            let config_bytes = &files[config_name];
            let layer_bytes = &files[layer_names[0].as_str().unwrap()];
            let layer_digest = layer::sha256_hex(layer_bytes);
            assert_eq!(
                config_name,
                format!("sha256:{}", layer::sha256_hex(config_bytes))
            );
            assert_eq!(layer_names[0], format!("{layer_digest}.tar.gz"));

            let config: Value = serde_json::from_slice(config_bytes).unwrap();
            let labels = &config["config"]["Labels"];
            assert_eq!(
                labels,
                &json!({format!("io.crossplane.xpkg:sha256:{layer_digest}"): "base"}),
                "{}",
                package.dir
            );

            // package.yaml is crossplane.yaml, then the other files by name.
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
            let expected = format!(
                "---\n{}---\n{}---\n{}",
                read("crossplane.yaml"),
                read("composition.yaml"),
                read("xrd.yaml")
            );
            assert_eq!(
                tar_files(&gunzip(layer_bytes)),
                [("package.yaml".to_owned(), 0o644, expected.into_bytes())],
                "{}",
                package.dir
            );
        }
    }

    #[test]
    fn catalog_matches_the_catalog_tests() {
        // tests/catalog_support/mod.rs lists the packages and their files for
        // the catalog and quickstart tests of the function crate.
        let support =
            std::fs::read_to_string(repository_dir("tests/catalog_support/mod.rs")).unwrap();

        for package in CATALOG {
            let dir = format!("dir: \"{}\",", package.dir);
            let xpkg = format!("xpkg: \"target/xpkg/{}\",", package.file_name);
            assert!(support.contains(&dir), "{dir}");
            assert!(support.contains(&xpkg), "{xpkg}");
        }
    }
}
