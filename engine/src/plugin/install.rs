//! Installing plugins into a project's plugin directory: from a local `.wasm` file, from a
//! registry (a directory or an `https://…/index.json` listing versions with their checksums),
//! or from a URL. Whatever the source, the bytes are checked against a SHA-256 the user or
//! the registry vouches for, and loaded (which validates the component and its contract
//! version) before anything is written; the install then lands whole or not at all.

use crate::error_text::chain;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cache::sha256_hex;
use super::catalog::{COMPONENT, Manifest};
use super::error::PluginError;
use super::limits::Limits;
use super::runtime::Runtime;

/// The largest component a download may be: plugins are small, and a server that sends
/// forever must not fill the disk or memory.
const MAX_DOWNLOAD: usize = 64 << 20;

/// Why an install (or an enable, disable, remove) did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A local file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A local file that is not a regular file (a directory, a FIFO, a device), or too large.
    #[error("cannot read `{path}`: {reason}")]
    NotAComponent {
        /// The file.
        path: String,
        /// Why: what it is, or how large.
        reason: String,
    },
    /// A registry entry's path that leads out of the registry.
    #[error(
        "registry `{registry}` lists `{path}` for {plugin}: a registry's paths must stay inside it (a relative path without `..`); nothing was read"
    )]
    OutsideRegistry {
        /// The registry.
        registry: String,
        /// The plugin and version.
        plugin: String,
        /// The path the index gives.
        path: String,
    },
    /// A download failed.
    #[error("cannot download `{url}`: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A URL this command will not fetch.
    #[error(
        "`{url}` is not an https URL: plugins are downloaded over https only (plain http only from 127.0.0.1 or localhost)"
    )]
    Insecure {
        /// The URL.
        url: String,
    },
    /// A URL install without a checksum to check it against.
    #[error(
        "refusing to install `{url}` without a checksum: pass `--sha256 <hex>` with the SHA-256 its publisher gives, or install from a registry (`plugins.registry` in ralph.yaml) whose index lists it"
    )]
    Unverified {
        /// The URL.
        url: String,
    },
    /// The bytes are not the ones vouched for.
    #[error(
        "the SHA-256 of `{source_name}` is {found}, but {vouched_by} says {expected}: the file is not the one published (corrupt or tampered with); nothing was installed"
    )]
    Checksum {
        /// Where the bytes came from.
        source_name: String,
        /// Who vouched for `expected`: `--sha256`, or the registry's index.
        vouched_by: String,
        /// The expected hash.
        expected: String,
        /// The actual hash.
        found: String,
    },
    /// A registry's index cannot be read or understood.
    #[error("registry `{registry}`: {reason}")]
    Registry {
        /// The registry (its name or location).
        registry: String,
        /// Why.
        reason: String,
    },
    /// No registry is configured, or not the one asked for.
    #[error("{0}")]
    NoRegistry(String),
    /// No registry lists the plugin.
    #[error("no registry lists a plugin `{name}` (searched: {searched})")]
    NotListed {
        /// The plugin.
        name: String,
        /// The registries searched.
        searched: String,
    },
    /// The registries list the plugin, but no version fits the requirement.
    #[error("no version of `{name}` matches `{requirement}`; available: {available}")]
    NoVersion {
        /// The plugin.
        name: String,
        /// The requirement.
        requirement: String,
        /// The versions listed.
        available: String,
    },
    /// A version requirement that is not semver.
    #[error("`{requirement}` is not a version requirement (e.g. `^1.0.0`): {reason}")]
    BadRequirement {
        /// The requirement.
        requirement: String,
        /// Why.
        reason: String,
    },
    /// A name that cannot be a directory of the plugin directory.
    #[error(
        "`{0}` cannot be a plugin name: use letters, digits, `-` and `_` (pass `--name` to choose another)"
    )]
    BadName(String),
    /// The component could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The plugin is not installed.
    #[error("plugin `{name}` is not installed in `{dir}` (`ralph-loop plugin list` shows what is)")]
    NotInstalled {
        /// The plugin.
        name: String,
        /// The plugin directory.
        dir: String,
    },
    /// An installed plugin's manifest cannot be read.
    #[error("{0}; reinstall the plugin with `ralph-loop plugin install`")]
    Manifest(String),
    /// The plugin directory cannot be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file or directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One plugin version a registry offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The plugin's name.
    pub name: String,
    /// Its version (semver).
    pub version: String,
    /// The SHA-256 of its component: the install checks it.
    pub sha256: String,
    /// Its component, relative to the index.
    pub path: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
}

/// A registry's `index.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Every version of every plugin it offers.
    pub plugins: Vec<IndexEntry>,
}

/// A registry: where its index is, and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// Its name (`plugins.registry[].name`), or its location when given directly.
    pub name: String,
    /// A directory holding `index.json`, the index file itself, or an http(s) URL of the index.
    pub location: String,
}

/// A chosen registry entry and the bytes of its component (checked against the index).
#[derive(Debug)]
pub struct Fetched {
    /// The entry.
    pub entry: IndexEntry,
    /// The registry it came from.
    pub registry: String,
    /// The component.
    pub bytes: Vec<u8>,
}

/// Whether `source` is a URL rather than a path or a name.
pub fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// Plain http is allowed only to this machine, so tests and local mirrors work without
/// letting a network attacker swap a component in transit (the checksum would catch it, but
/// a registry's index itself has nothing above it to check it).
fn allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_owned()
    };
    matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether a redirect from `from` to `to` may be followed: to https from anything (a local
/// mirror may send to its https origin), or to plain http only from the very same loopback
/// origin (scheme, host and port). Never from https down to http: a download that started
/// encrypted stays encrypted, and an allowed loopback URL cannot bounce to a refused host.
fn may_redirect(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    match to.scheme() {
        "https" => true,
        "http" => from.scheme() == "http" && allowed(to.as_str()) && from.origin() == to.origin(),
        _ => false,
    }
}

/// How many redirects a download follows.
const MAX_REDIRECTS: usize = 10;

/// Reads a local component or index: a regular file only (a FIFO or a device is refused
/// before it is read, so nothing can hang or stream forever), at most [`MAX_DOWNLOAD`] bytes,
/// the same cap as a download.
///
/// # Errors
///
/// A file that cannot be opened, is not a regular file, or is larger than the cap.
pub fn read_local(path: &Path) -> Result<Vec<u8>, InstallError> {
    use crate::bounded_file::{self, Refused};
    let refusal = |refused: Refused| {
        let path = path.display().to_string();
        match refused {
            Refused::NotRegular(kind) => {
                InstallError::NotAComponent { path, reason: format!("it is {kind}, not a regular file") }
            }
            Refused::TooLarge(_) => InstallError::NotAComponent {
                path,
                reason: format!("it is larger than {} MiB", MAX_DOWNLOAD >> 20),
            },
            Refused::Io(source) => InstallError::Read { path, source },
        }
    };
    let (file, _) = bounded_file::open(path, MAX_DOWNLOAD as u64, true).map_err(refusal)?;
    bounded_file::read(file, MAX_DOWNLOAD as u64).map_err(refusal)
}

/// A registry entry's path as a relative path inside the registry: no scheme, no leading
/// `/`, no `..` or `.` segments, no backslashes.
fn inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains("://")
        && path.split('/').all(|segment| !segment.is_empty() && segment != ".." && segment != ".")
}

/// Downloads `url` (at most [`MAX_DOWNLOAD`] bytes), following redirects only where
/// [`may_redirect`] allows.
///
/// # Errors
///
/// A URL that is not https (or local http), a redirect elsewhere, a connection failure, a
/// status other than 2xx, a body too large.
pub fn fetch(url: &str) -> Result<Vec<u8>, InstallError> {
    if !allowed(url) {
        return Err(InstallError::Insecure { url: url.to_owned() });
    }
    let fail = |reason: String| InstallError::Fetch { url: url.to_owned(), reason };
    // The engine's HTTP client is async (reqwest without its blocking API); one download
    // needs no more than a current-thread runtime for its duration.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the HTTP client: {e}")))?;
    runtime.block_on(async {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let refused = attempt.previous().last().map(|from| !may_redirect(from, attempt.url()));
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if refused.unwrap_or(true) {
                let to = attempt.url().to_string();
                attempt.error(format!(
                    "it redirects to `{to}`, which is not allowed (redirects are followed to https, or within the same 127.0.0.1 or localhost origin, never from https to http)"
                ))
            } else {
                attempt.follow()
            }
        });
        crate::tls::ensure_provider();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .redirect(policy)
            .build()
            .map_err(|e| fail(chain(&e)))?;
        let mut response = client.get(url).send().await.map_err(|e| fail(chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("the server answered {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(chain(&e)))? {
            if body.len() + chunk.len() > MAX_DOWNLOAD {
                return Err(fail(format!("it is larger than {} MiB", MAX_DOWNLOAD >> 20)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

/// Where a registry's index is, and what its entries' paths are relative to.
enum Base {
    Dir(PathBuf),
    Url(String),
}

impl Registry {
    fn base(&self, project_dir: &Path) -> (Base, String) {
        if is_url(&self.location) {
            let index = self.location.clone();
            let dir = index.rsplit_once('/').map_or(index.as_str(), |(d, _)| d).to_owned();
            return (Base::Url(dir), index);
        }
        let path = project_dir.join(&self.location);
        if path.extension().is_some_and(|e| e == "json") {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let index = path.display().to_string();
            (Base::Dir(dir), index)
        } else {
            let index = path.join("index.json").display().to_string();
            (Base::Dir(path), index)
        }
    }

    fn error(&self, reason: String) -> InstallError {
        InstallError::Registry { registry: self.name.clone(), reason }
    }

    /// Reads the registry's index.
    ///
    /// # Errors
    ///
    /// An index that cannot be read or is not an index.
    pub fn index(&self, project_dir: &Path) -> Result<Index, InstallError> {
        let (base, index) = self.base(project_dir);
        let bytes = match base {
            Base::Url(_) => fetch(&index).map_err(|e| self.error(e.to_string()))?,
            Base::Dir(_) => read_local(Path::new(&index)).map_err(|e| self.error(e.to_string()))?,
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            self.error(format!(
                "`{index}` is not a registry index (`{{\"plugins\": [{{\"name\", \"version\", \"sha256\", \"path\"}}]}}`): {e}"
            ))
        })
    }

    /// The component of `entry`, checked against the index's SHA-256.
    ///
    /// # Errors
    ///
    /// A component that cannot be read or downloaded, or whose checksum differs.
    pub fn component(&self, project_dir: &Path, entry: &IndexEntry) -> Result<Vec<u8>, InstallError> {
        let (base, _) = self.base(project_dir);
        let outside = || InstallError::OutsideRegistry {
            registry: self.name.clone(),
            plugin: format!("`{}` {}", entry.name, entry.version),
            path: entry.path.clone(),
        };
        let (bytes, shown) = match base {
            Base::Url(dir) => {
                // A full URL is taken only when it is under the registry's own location.
                let url = if is_url(&entry.path) {
                    let rest = entry.path.strip_prefix(&format!("{dir}/")).ok_or_else(outside)?;
                    if !inside(rest) {
                        return Err(outside());
                    }
                    entry.path.clone()
                } else if inside(&entry.path) {
                    format!("{dir}/{}", entry.path)
                } else {
                    return Err(outside());
                };
                (fetch(&url)?, url)
            }
            Base::Dir(dir) => {
                if !inside(&entry.path) {
                    return Err(outside());
                }
                let path = dir.join(&entry.path);
                // A symbolic link inside the registry must not lead out of it either.
                let (Ok(real), Ok(root)) = (std::fs::canonicalize(&path), std::fs::canonicalize(&dir)) else {
                    return Err(read_local(&path).err().unwrap_or_else(outside));
                };
                if !real.starts_with(&root) {
                    return Err(outside());
                }
                (read_local(&real)?, path.display().to_string())
            }
        };
        verify(&bytes, &shown, &entry.sha256, &format!("the index of registry `{}`", self.name))?;
        Ok(bytes)
    }
}

/// Checks `bytes` against `expected` (hex, any case).
///
/// # Errors
///
/// When the hashes differ.
pub fn verify(bytes: &[u8], source: &str, expected: &str, vouched_by: &str) -> Result<(), InstallError> {
    let found = sha256_hex(bytes);
    if !found.eq_ignore_ascii_case(expected.trim()) {
        return Err(InstallError::Checksum {
            source_name: source.to_owned(),
            vouched_by: vouched_by.to_owned(),
            expected: expected.trim().to_lowercase(),
            found,
        });
    }
    Ok(())
}

/// Finds `name` in `registries` and picks the highest version matching `requirement` (any
/// version without one; pre-releases only when the requirement names one, as semver says).
///
/// # Errors
///
/// A bad requirement, an unreadable index, a plugin no registry lists or no version that fits.
pub fn choose(
    project_dir: &Path,
    registries: &[Registry],
    name: &str,
    requirement: Option<&str>,
) -> Result<(Registry, IndexEntry), InstallError> {
    let req = match requirement {
        Some(r) => semver::VersionReq::parse(r)
            .map_err(|e| InstallError::BadRequirement { requirement: r.to_owned(), reason: e.to_string() })?,
        None => semver::VersionReq::STAR,
    };
    let mut best: Option<(semver::Version, Registry, IndexEntry)> = None;
    let mut available = Vec::new();
    for registry in registries {
        let index = registry.index(project_dir)?;
        for entry in index.plugins.into_iter().filter(|e| e.name == name) {
            available.push(entry.version.clone());
            let Ok(version) = semver::Version::parse(&entry.version) else { continue };
            if req.matches(&version) && best.as_ref().is_none_or(|(b, _, _)| version > *b) {
                best = Some((version, registry.clone(), entry));
            }
        }
    }
    if let Some((_, registry, entry)) = best {
        return Ok((registry, entry));
    }
    if available.is_empty() {
        let searched = registries.iter().map(|r| format!("`{}`", r.name)).collect::<Vec<_>>().join(", ");
        return Err(InstallError::NotListed { name: name.to_owned(), searched });
    }
    Err(InstallError::NoVersion {
        name: name.to_owned(),
        requirement: requirement.unwrap_or("*").to_owned(),
        available: available.join(", "),
    })
}

/// Whether `name` can be a directory of the plugin directory (and a name in ralph.yaml).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// What to install.
#[derive(Debug)]
pub struct Install<'a> {
    /// The component.
    pub bytes: &'a [u8],
    /// The name to install it under; the plugin's own name (from `describe`) when absent.
    pub name: Option<&'a str>,
    /// Where it came from, as the manifest records it.
    pub source: String,
    /// Where compiled components are cached.
    pub cache_dir: Option<&'a Path>,
}

/// Loads the component (refusing one that is corrupt, of another contract version, or not a
/// plugin), then writes `<dir>/<name>/plugin.wasm` and `plugin.json` together: into a
/// temporary directory first, then renamed into place, so a reader sees the old install or
/// the new one, never half of either. A reinstall replaces the old one.
///
/// # Errors
///
/// The component cannot be loaded, the name is not usable, or the directory cannot be written.
pub fn install(dir: &Path, request: &Install<'_>) -> Result<Manifest, InstallError> {
    let label = request.name.unwrap_or("(new plugin)");
    let loaded = Runtime::shared()?.load(label, request.bytes, request.cache_dir, Limits::DEFAULT)?;
    let descriptor = loaded.descriptor();
    let name = request.name.unwrap_or(&descriptor.name).to_owned();
    if !valid_name(&name) {
        return Err(InstallError::BadName(name));
    }
    let previous = Manifest::read(&dir.join(&name)).ok();
    let manifest = Manifest {
        name: name.clone(),
        version: descriptor.version.clone(),
        description: descriptor.description.clone(),
        sha256: loaded.sha256().to_owned(),
        source: request.source.clone(),
        hooks: descriptor.hooks.clone(),
        capabilities: descriptor.capabilities.clone(),
        // A reinstall (an upgrade) keeps a `plugin disable`.
        enabled: previous.is_none_or(|p| p.enabled),
        installed_at: crate::clock::now(),
    };
    let write = |path: &Path| {
        let path = path.display().to_string();
        move |source: std::io::Error| InstallError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write(dir))?;
    let staging = tempfile::Builder::new().prefix(".install-").tempdir_in(dir).map_err(write(dir))?;
    std::fs::write(staging.path().join(COMPONENT), request.bytes).map_err(write(staging.path()))?;
    manifest.write(staging.path()).map_err(write(staging.path()))?;
    let home = dir.join(&name);
    // The old install is moved aside first (a rename cannot replace a non-empty directory),
    // and removed only once the new one is in place.
    let aside = home.exists().then(|| dir.join(format!(".old-{name}-{}", std::process::id())));
    if let Some(aside) = &aside {
        std::fs::rename(&home, aside).map_err(write(&home))?;
    }
    let staged = staging.keep();
    if let Err(source) = std::fs::rename(&staged, &home) {
        if let Some(aside) = &aside {
            let _ = std::fs::rename(aside, &home);
        }
        let _ = std::fs::remove_dir_all(&staged);
        return Err(InstallError::Write { path: home.display().to_string(), source });
    }
    if let Some(aside) = aside {
        let _ = std::fs::remove_dir_all(aside);
    }
    Ok(manifest)
}

fn home(dir: &Path, name: &str) -> Result<PathBuf, InstallError> {
    let home = dir.join(name);
    if !valid_name(name) || !home.join(super::catalog::MANIFEST).is_file() {
        return Err(InstallError::NotInstalled { name: name.to_owned(), dir: dir.display().to_string() });
    }
    Ok(home)
}

/// Removes an installed plugin.
///
/// # Errors
///
/// It is not installed, or cannot be removed.
pub fn remove(dir: &Path, name: &str) -> Result<Manifest, InstallError> {
    let home = home(dir, name)?;
    let manifest = Manifest::read(&home).unwrap_or_default();
    std::fs::remove_dir_all(&home)
        .map_err(|source| InstallError::Write { path: home.display().to_string(), source })?;
    Ok(manifest)
}

/// Sets whether an installed plugin is called; answers whether it changed.
///
/// # Errors
///
/// It is not installed, or its manifest cannot be read or written.
pub fn set_enabled(dir: &Path, name: &str, enabled: bool) -> Result<bool, InstallError> {
    let home = home(dir, name)?;
    let mut manifest = Manifest::read(&home).map_err(InstallError::Manifest)?;
    if manifest.enabled == enabled {
        return Ok(false);
    }
    manifest.enabled = enabled;
    manifest
        .write(&home)
        .map_err(|source| InstallError::Write { path: home.display().to_string(), source })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(allowed("https://example.com/x.wasm"));
        assert!(allowed("http://127.0.0.1:8080/x.wasm"));
        assert!(allowed("http://localhost/x"));
        assert!(allowed("http://[::1]:9/x"));
        assert!(!allowed("http://example.com/x.wasm"));
        assert!(!allowed("http://127.0.0.1.evil.com/x"));
        assert!(!allowed("http://localhost@evil.com/x"));
        assert!(!allowed("ftp://127.0.0.1/x"));
    }

    #[test]
    fn the_highest_matching_version_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let index = r#"{"plugins":[
            {"name":"p","version":"1.0.0","sha256":"a","path":"p-1.0.0.wasm"},
            {"name":"p","version":"1.4.2","sha256":"b","path":"p-1.4.2.wasm"},
            {"name":"p","version":"2.0.0","sha256":"c","path":"p-2.0.0.wasm"},
            {"name":"q","version":"9.0.0","sha256":"d","path":"q.wasm"}]}"#;
        std::fs::write(dir.path().join("index.json"), index).unwrap();
        let reg = [Registry { name: "local".into(), location: dir.path().display().to_string() }];
        let (_, e) = choose(dir.path(), &reg, "p", Some("^1.0.0")).unwrap();
        assert_eq!(e.version, "1.4.2");
        let (_, e) = choose(dir.path(), &reg, "p", None).unwrap();
        assert_eq!(e.version, "2.0.0");
        let err = choose(dir.path(), &reg, "p", Some("^3")).unwrap_err().to_string();
        assert!(err.contains("1.0.0, 1.4.2, 2.0.0"), "{err}");
        let err = choose(dir.path(), &reg, "zzz", None).unwrap_err().to_string();
        assert!(err.contains("`local`"), "{err}");
    }

    #[test]
    fn names_stay_inside_the_plugin_directory() {
        assert!(valid_name("secret-guard"));
        assert!(!valid_name("../x"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }
}
