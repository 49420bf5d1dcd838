//! Where the binaries and plugin components the child-process tests run come from. The tests never build
//! anything: `scripts/test.sh` (or the command in the panic message) builds `gateway` and the simulators into
//! the test executable's own target directory and profile, `scripts/build-plugins.sh` the plugins. A
//! binary that is missing, or older than a source file it was built from (cargo's `<bin>.d` dep-info
//! file), fails the test with the command that fixes it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `<target>/<profile>` of the running test executable (`<target>/<profile>/deps/integration-…`).
pub(super) fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent().and_then(Path::parent).expect("<target>/<profile>/deps/<test exe>").to_path_buf()
}

/// The `gateway` binary next to the test executable (`$CARGO_TARGET_DIR/debug/gateway`).
pub fn gateway_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_bin("gateway")).clone()
}

/// The iSpring Learn simulator (`sims/ispring`), found like [`gateway_bin`].
pub fn ispring_sim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_bin("ispring-sim")).clone()
}

/// The Learn365 simulator (`sims/learn365`), found like [`gateway_bin`].
pub fn learn365_sim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built_bin("learn365-sim")).clone()
}

/// The command that builds the binaries where the tests look for them.
fn build_command(profile: &Path) -> String {
    let release = if profile.file_name().is_some_and(|n| n == "release") { " --release" } else { "" };
    format!(
        "cargo build{release} -p gateway --bin gateway -p ispring-sim --bin ispring-sim -p learn365-sim --bin learn365-sim"
    )
}

/// Binary `bin` in this test's target directory and profile: present, and not older than its sources.
fn built_bin(bin: &str) -> PathBuf {
    let profile = profile_dir();
    let path = profile.join(bin);
    let build = build_command(&profile);
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): build it first with `{build}` \
             (with the same CARGO_TARGET_DIR as `cargo test`; scripts/test.sh does both)",
            path.display()
        )
    });
    let sources = dep_info_sources(&path.with_extension("d"));
    let newest = sources
        .iter()
        .filter_map(|f| Some((f, std::fs::metadata(f).and_then(|m| m.modified()).ok()?)))
        .max_by_key(|(_, at)| *at);
    if let Some((newer, at)) = newest.filter(|(_, at)| *at > built) {
        let ago = at.duration_since(built).unwrap_or_default();
        panic!(
            "{} is stale: {} changed {ago:.1?} after it was built; rebuild with `{build}`",
            path.display(),
            newer.display()
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate lives in the workspace");
    if let Some(other) = sources.iter().find(|f| f.is_absolute() && !f.starts_with(root)) {
        eprintln!(
            "note: {} was built from another checkout ({}); `{build}` builds this one's",
            path.display(),
            other.display()
        );
    }
    path
}

/// The files cargo's dep-info `<bin>.d` lists (the sources the binary was built from); empty when there
/// is none.
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(dep_info) else { return Vec::new() };
    // `<bin>: src1 src2 …`, spaces inside a path escaped as `\ `.
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else { return Vec::new() };
    let mut files = Vec::new();
    let mut cur = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            ' ' => files.push(PathBuf::from(std::mem::take(&mut cur))),
            c => cur.push(c),
        }
    }
    files.push(PathBuf::from(cur));
    files.retain(|f| !f.as_os_str().is_empty());
    files
}

/// Where `scripts/build-plugins.sh` put the plugin components.
pub fn plugins_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SCIMGW_PLUGINS_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(c) = std::env::var_os("SCIMGW_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(c).join("plugins");
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/scimgw/plugins")
}

/// A built plugin component, e.g. `plugin_file("webhook")`.
pub fn plugin_file(name: &str) -> PathBuf {
    let p = plugins_dir().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "plugin component {} is missing: build the plugins with `bash scripts/build-plugins.sh` \
         (or point SCIMGW_PLUGINS_DIR at them)",
        p.display()
    );
    p
}
