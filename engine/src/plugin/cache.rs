//! Compiled components on disk, keyed by the component's content hash and the engine's
//! compatibility (wasmtime version and settings): a plugin is compiled once per machine, not
//! once per run.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::PluginError;

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Feeds a `Hash` into SHA-256, so the key is the same in every process (`DefaultHasher` is
/// not promised to be).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// A short key for the engine's compatibility: artifacts of another wasmtime or other
/// settings land under another name and are never loaded.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize()[..8])
}

/// Where the compiled form of `sha256` for `engine` is kept under `dir`.
pub fn artifact_path(dir: &Path, engine: &Engine, sha256: &str) -> PathBuf {
    dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)))
}

const CORE_MODULE: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];

/// The component of `bytes`: deserialized from the cache when there, else compiled and cached
/// (written to a temporary file and renamed, so a reader never sees half a file).
pub fn component(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    sha256: &str,
    dir: Option<&Path>,
) -> Result<Component, PluginError> {
    let invalid = |reason: String| PluginError::Invalid { plugin: name.to_owned(), reason };
    if bytes.starts_with(&CORE_MODULE) {
        return Err(invalid(
            "it is a core WebAssembly module, not a component: build it with `cargo build --target wasm32-wasip2`"
                .into(),
        ));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(invalid("it does not start with the WebAssembly magic number `\\0asm`".into()));
    }
    let artifact = dir.map(|d| artifact_path(d, engine, sha256));
    if let Some(path) = artifact.as_deref().filter(|p| p.is_file()) {
        if let Ok(component) = deserialize(engine, path) {
            return Ok(component);
        }
        // An unreadable or stale artifact is compiled again and replaced.
        let _ = std::fs::remove_file(path);
    }
    let component = Component::new(engine, bytes).map_err(|e| invalid(format!("{e:#}")))?;
    if let (Some(path), Ok(serialized)) = (artifact, component.serialize()) {
        let _ = store(&path, &serialized);
    }
    Ok(component)
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    crate::atomic_file::write(path, bytes)
}

/// Loads an artifact this cache wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires the file to be an artifact of `Component::serialize` from a
    // compatible engine. Only this module writes the cache (whole files, renamed into place);
    // the name carries the engine's compatibility key and wasmtime checks its header again.
    // Whoever can write `.ralph/cache/` can already edit the workflow that runs commands, so
    // the file is as trusted as the project.
    unsafe { Component::deserialize_file(engine, path) }
}
