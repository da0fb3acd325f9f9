//! The OCI image of one architecture, and the multi-platform index of them.
//!
//! Each image has a runtime layer with the static binary and a non-root
//! user. A second layer contains the `package.yaml` that Crossplane reads, and
//! its descriptor marks it as the package's base layer.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use oci_spec::image::{
    ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
    SCHEMA_VERSION, Sha256Digest,
};

use crate::arch::Arch;
use crate::json;
use crate::layer::{self, Entry, Layer};
use crate::timestamp::Timestamp;

/// The annotation key Crossplane looks for on layer descriptors.
pub const XPKG_ANNOTATION: &str = "io.crossplane.xpkg";

/// The value of [`XPKG_ANNOTATION`] on the layer with `package.yaml`.
pub const XPKG_BASE: &str = "base";

/// The file in the base layer that contains the package's YAML stream.
pub const PACKAGE_YAML: &str = "package.yaml";

/// The binary's path in the image, without the leading `/`.
pub const BINARY_PATH: &str = "usr/local/bin/function-gitlab-runner-fleet";

/// The user and group the function runs as, the `nonroot` user of
/// distroless images.
pub const NONROOT_ID: u64 = 65532;

/// The gRPC port Crossplane calls, and the Prometheus metrics port.
pub const EXPOSED_PORTS: [&str; 2] = ["8080/tcp", "9443/tcp"];

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";

/// A content-addressed blob: a layer, configuration, manifest or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub media_type: MediaType,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub digest: String,
}

impl Blob {
    pub fn new(media_type: MediaType, bytes: Vec<u8>) -> Blob {
        let digest = layer::sha256_hex(&bytes);
        Blob {
            media_type,
            bytes,
            digest,
        }
    }

    /// Returns the digest as manifests write it: `sha256:<hex>`.
    pub fn digest_ref(&self) -> String {
        format!("sha256:{}", self.digest)
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Builds a descriptor of this blob, with `annotations` when there are any.
    pub fn descriptor(&self, annotations: &[(&str, &str)]) -> anyhow::Result<Descriptor> {
        let digest: Sha256Digest = self.digest.parse().context("invalid SHA-256 digest")?;
        let mut builder = DescriptorBuilder::default()
            .media_type(self.media_type.clone())
            .digest(digest)
            .size(self.size());
        if !annotations.is_empty() {
            builder = builder.annotations(to_map(annotations));
        }
        builder.build().context("cannot build a descriptor")
    }
}

/// The contents and metadata of the image of one architecture.
#[derive(Debug, Clone)]
pub struct ImageInput<'a> {
    pub arch: Arch,
    /// The static binary.
    pub binary: &'a [u8],
    /// The package's YAML stream.
    pub package_yaml: &'a [u8],
    /// The time recorded as the image's creation and every file's change.
    pub created: Timestamp,
    /// Labels for the configuration besides the package's, e.g.
    /// `org.opencontainers.image.source`.
    pub labels: &'a BTreeMap<String, String>,
}

/// The image of one architecture, with every blob it consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub arch: Arch,
    pub config: Blob,
    /// The runtime layer, then the base layer with `package.yaml`.
    pub layers: Vec<Blob>,
    pub manifest: Blob,
}

impl Image {
    /// Builds the image of `input.arch`.
    pub fn build(input: &ImageInput) -> anyhow::Result<Image> {
        let mtime = input.created.0;
        let runtime = layer::build(&runtime_entries(input.binary), mtime)
            .context("cannot build the runtime layer")?;
        let base = base_layer(input.package_yaml, mtime)?;

        let config = Blob::new(
            MediaType::ImageConfig,
            configuration(input, &runtime, &base)?,
        );
        let layers = vec![
            Blob::new(MediaType::ImageLayerGzip, runtime.compressed),
            Blob::new(MediaType::ImageLayerGzip, base.compressed),
        ];

        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(config.descriptor(&[])?)
            .layers(vec![
                layers[0].descriptor(&[])?,
                layers[1].descriptor(&[(XPKG_ANNOTATION, XPKG_BASE)])?,
            ])
            .build()
            .context("cannot build the image manifest")?;
        let manifest = Blob::new(MediaType::ImageManifest, json::to_canonical_vec(&manifest)?);

        Ok(Image {
            arch: input.arch,
            config,
            layers,
            manifest,
        })
    }

    /// Bytes a client downloads to run the image: configuration and
    /// compressed layers.
    pub fn compressed_size(&self) -> u64 {
        self.config.size() + self.layers.iter().map(Blob::size).sum::<u64>()
    }
}

/// Returns the configuration label that records which layer is the package's base:
/// `io.crossplane.xpkg:sha256:<layer digest>`. `crossplane xpkg push` turns
/// it into the layer annotation, because a `docker save` tarball cannot carry
/// layer annotations.
pub fn base_layer_label(layer_digest_hex: &str) -> String {
    format!("{XPKG_ANNOTATION}:sha256:{layer_digest_hex}")
}

/// Builds the base layer: `package.yaml` alone, mode 0644 as `crossplane xpkg
/// build` writes it, dated `mtime` (seconds since the Unix epoch).
pub fn base_layer(package_yaml: &[u8], mtime: u64) -> anyhow::Result<Layer> {
    layer::build(
        &[Entry::file(PACKAGE_YAML, 0o644, package_yaml.to_vec())],
        mtime,
    )
    .context("cannot build the package.yaml layer")
}

/// Builds the image index of `images`, one manifest per platform.
pub fn index(images: &[Image]) -> anyhow::Result<Blob> {
    let mut manifests = Vec::new();
    for image in images {
        let platform = PlatformBuilder::default()
            .architecture(image.arch.oci())
            .os(Os::Linux)
            .build()
            .context("cannot build a platform")?;
        let mut descriptor = image.manifest.descriptor(&[])?;
        descriptor.set_platform(Some(platform));
        manifests.push(descriptor);
    }

    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .context("cannot build the image index")?;
    Ok(Blob::new(
        MediaType::ImageIndex,
        json::to_canonical_vec(&index)?,
    ))
}

/// Lists the runtime layer's entries: the binary, and the account files that
/// name its user.
fn runtime_entries(binary: &[u8]) -> Vec<Entry> {
    vec![
        Entry::directory("etc/", 0o755),
        Entry::file("etc/group", 0o644, GROUP.as_bytes().to_vec()),
        Entry::file("etc/passwd", 0o644, PASSWD.as_bytes().to_vec()),
        Entry::directory("usr/", 0o755),
        Entry::directory("usr/local/", 0o755),
        Entry::directory("usr/local/bin/", 0o755),
        Entry::file(BINARY_PATH, 0o755, binary.to_vec()),
    ]
}

fn configuration(input: &ImageInput, runtime: &Layer, base: &Layer) -> anyhow::Result<Vec<u8>> {
    let created = input.created.rfc3339();
    let mut labels: HashMap<String, String> = input
        .labels
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    labels.insert(base_layer_label(&base.digest), XPKG_BASE.to_owned());

    let runtime_config = ConfigBuilder::default()
        .user(format!("{NONROOT_ID}:{NONROOT_ID}"))
        .exposed_ports(EXPOSED_PORTS.map(str::to_owned).to_vec())
        .env(vec!["PATH=/usr/local/bin".to_owned()])
        .entrypoint(vec![format!("/{BINARY_PATH}")])
        .working_dir("/")
        .labels(labels)
        .build()
        .context("cannot build the runtime configuration")?;

    let history = [
        "cargo xtask package: static function binary and nonroot user",
        "cargo xtask package: package.yaml",
    ]
    .into_iter()
    .map(|created_by| {
        HistoryBuilder::default()
            .created(created.clone())
            .created_by(created_by)
            .build()
            .context("cannot build a history entry")
    })
    .collect::<anyhow::Result<Vec<_>>>()?;

    let configuration = ImageConfigurationBuilder::default()
        .created(created.clone())
        .architecture(input.arch.oci())
        .os(Os::Linux)
        .config(runtime_config)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![
                    format!("sha256:{}", runtime.diff_id),
                    format!("sha256:{}", base.diff_id),
                ])
                .build()
                .context("cannot build the root file system")?,
        )
        .history(history)
        .build()
        .context("cannot build the image configuration")?;
    json::to_canonical_vec(&configuration)
}

fn to_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use serde_json::{Value, json};

    use super::*;

    pub(crate) fn sample_image(arch: Arch) -> Image {
        let labels: BTreeMap<String, String> = [
            (
                "org.opencontainers.image.title",
                "function-gitlab-runner-fleet",
            ),
            ("org.opencontainers.image.version", "0.1.0"),
            ("org.opencontainers.image.licenses", "Apache-2.0"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let binary = format!("\x7fELF static {arch} binary");
        Image::build(&ImageInput {
            arch,
            binary: binary.as_bytes(),
            package_yaml: b"---\napiVersion: meta.pkg.crossplane.io/v1\nkind: Function\n",
            created: Timestamp(1_700_000_000),
            labels: &labels,
        })
        .unwrap()
    }

    fn parse(blob: &Blob) -> Value {
        serde_json::from_slice(&blob.bytes).unwrap()
    }

    fn gunzip(blob: &Blob) -> Vec<u8> {
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(&blob.bytes[..])
            .read_to_end(&mut data)
            .unwrap();
        data
    }

    #[test]
    fn manifest_annotates_base_layer() {
        let image = sample_image(Arch::Arm64);
        let manifest = parse(&image.manifest);

        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(manifest["config"]["digest"], image.config.digest_ref());
        assert_eq!(manifest["layers"][0].get("annotations"), None);
        assert_eq!(
            manifest["layers"][1]["annotations"],
            json!({"io.crossplane.xpkg": "base"})
        );
        assert_eq!(
            manifest["layers"][1]["digest"],
            image.layers[1].digest_ref()
        );
    }

    #[test]
    fn config_labels_base_layer_and_lists_diff_ids() {
        let image = sample_image(Arch::Arm64);
        let config = parse(&image.config);

        let label = format!("io.crossplane.xpkg:sha256:{}", image.layers[1].digest);
        assert_eq!(config["config"]["Labels"][&label], "base");
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.version"],
            "0.1.0"
        );
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/local/bin/function-gitlab-runner-fleet"])
        );
        assert_eq!(
            config["config"]["ExposedPorts"],
            json!({"8080/tcp": {}, "9443/tcp": {}})
        );

        let diff_ids: Vec<String> = image
            .layers
            .iter()
            .map(|layer| format!("sha256:{}", layer::sha256_hex(&gunzip(layer))))
            .collect();
        assert_eq!(
            config["rootfs"],
            json!({"type": "layers", "diff_ids": diff_ids})
        );
    }

    #[test]
    fn base_layer_holds_only_package_yaml() {
        let image = sample_image(Arch::Amd64);
        let data = gunzip(&image.layers[1]);
        let mut archive = tar::Archive::new(&data[..]);

        let mut files = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            files.push((entry.path().unwrap().display().to_string(), content));
        }
        assert_eq!(
            files,
            [(
                "package.yaml".to_owned(),
                "---\napiVersion: meta.pkg.crossplane.io/v1\nkind: Function\n".to_owned()
            )]
        );
    }

    #[test]
    fn image_bytes_do_not_depend_on_map_order() {
        // Each HashMap gets its own random seed, so two builds in one process
        // serialize labels and annotations in different orders unless the
        // JSON is canonical.
        let first = sample_image(Arch::Amd64);
        for _ in 0..8 {
            assert_eq!(sample_image(Arch::Amd64), first);
        }
    }

    #[test]
    fn index_lists_each_platform() {
        let images = [sample_image(Arch::Amd64), sample_image(Arch::Arm64)];
        let index = parse(&index(&images).unwrap());

        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let platforms: Vec<(Value, Value, Value)> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|manifest| {
                (
                    manifest["platform"]["os"].clone(),
                    manifest["platform"]["architecture"].clone(),
                    manifest["digest"].clone(),
                )
            })
            .collect();
        assert_eq!(
            platforms,
            [
                (
                    json!("linux"),
                    json!("amd64"),
                    json!(images[0].manifest.digest_ref())
                ),
                (
                    json!("linux"),
                    json!("arm64"),
                    json!(images[1].manifest.digest_ref())
                ),
            ]
        );
    }
}
