//! `gateway plugin new NAME [--lang rust|js] [--dir DIR]`: a plugin project of its own, outside this
//! repository (the files are compiled into the gateway, so it needs no checkout). Rust: a crate with the SDK vendored (`sdk/`, the contract's WIT inside it), the template
//! plugin, fixtures for every change kind, a broken configuration and three deliveries (2xx, 429 with
//! `Retry-After`, 400). JavaScript: the componentize-js template with the WIT vendored, its generated
//! types and fixtures. Both build with one command and test with `gateway plugin test`.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// (path in the project, content) of the Rust SDK, vendored.
const SDK: [(&str, &str); 7] = [
    ("sdk/src/lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("sdk/src/config.rs", include_str!("../../../plugins/sdk/src/config.rs")),
    ("sdk/src/log.rs", include_str!("../../../plugins/sdk/src/log.rs")),
    ("sdk/src/notify.rs", include_str!("../../../plugins/sdk/src/notify.rs")),
    ("sdk/src/ops.rs", include_str!("../../../plugins/sdk/src/ops.rs")),
    ("sdk/src/outbound.rs", include_str!("../../../plugins/sdk/src/outbound.rs")),
    ("sdk/wit/plugin-1.0.0/plugin.wit", include_str!("../../../plugins/sdk/wit/plugin-1.0.0/plugin.wit")),
];

const TEMPLATE: &str = include_str!("../../../plugins/template/src/lib.rs");

const TEMPLATE_FIXTURES: [(&str, &str); 4] = [
    (
        "fixtures/config-missing-base-url.json",
        include_str!("../../../plugins/template/fixtures/config-missing-base-url.json"),
    ),
    ("fixtures/group-ignored.json", include_str!("../../../plugins/template/fixtures/group-ignored.json")),
    ("fixtures/user-deleted.json", include_str!("../../../plugins/template/fixtures/user-deleted.json")),
    ("fixtures/user-upserted.json", include_str!("../../../plugins/template/fixtures/user-upserted.json")),
];

const SDK_MANIFEST: &str = r#"[package]
name = "scimgw-plugin-sdk"
description = "Write scimgw target plugins (world `scimgw:plugin/plugin@1.0.0`) in Rust."
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc"] }
serde = { version = "1", default-features = false, features = ["std", "derive"] }
serde_json = { version = "1", default-features = false, features = ["std"] }
serde_path_to_error = "0.1"
"#;

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
scimgw-plugin-sdk = {{ path = "sdk" }}
serde = {{ version = "1", default-features = false, features = ["std", "derive"] }}
serde_json = {{ version = "1", default-features = false, features = ["std"] }}

# Plugins ship as single files: size over speed, no unwinding; keep the `component-type` section.
[profile.release]
panic = "abort"
lto = true
opt-level = "s"
codegen-units = 1
strip = "debuginfo"

[workspace]
"#
    )
}

fn readme(name: &str, core: &str) -> String {
    format!(
        r#"# {name}: a scimgw target plugin

Made by `gateway plugin new`. `src/lib.rs` is the plugin (users in, JSON POSTs out: change it to your
LMS), `sdk/` the Rust SDK with the contract it builds for (`sdk/wit/plugin-1.0.0/plugin.wit`), `fixtures/`
its tests: one per change kind, a broken configuration, and three deliveries over scripted HTTP.

```sh
rustup target add wasm32-unknown-unknown                      # once per machine
cargo build --release --target wasm32-unknown-unknown
gateway plugin test target/wasm32-unknown-unknown/release/{core}.wasm --fixtures fixtures
```

`gateway plugin test` turns the built module into a component (`gateway plugin componentize` writes it to
a file, for `gateway plugin add`), runs every fixture under the gateway's limits and shows differences
field by field, the plugin's log lines and its share of each budget. `--update` writes what the plugin
produced into a fixture's expectations; `gateway plugin fixture --tenant T --seq N` turns a change a
gateway recorded into a fixture. The vendor guide (contract, limits, ordering, fixtures) is
`plugins/README.md` in the gateway's repository.
"#
    )
}

/// A change-log row for a fixture.
fn change(seq: i64, kind: &str, rtype: &str, id: &str, payload: Value) -> Value {
    json!({"seq": seq, "kind": kind, "resource_type": rtype, "resource_id": id, "payload": payload,
           "created_at": "2026-01-05T09:00:00.000Z"})
}

/// Fixtures for the change kinds the template ignores, and for its deliveries.
fn generated_fixtures() -> Vec<(String, Value)> {
    let config = json!({"base_url": "https://lms.example.com/scim-hook", "credential": "api-token"});
    let ignored = |file: &str, what: &str, c: Value| {
        (
            format!("fixtures/{file}.json"),
            json!({"description": format!("{what}: nothing to do"), "config": config, "change": c, "expect": []}),
        )
    };
    let members = json!({"members": [{"value": "u-1", "type": "User"}]});
    let mut out = vec![
        ignored(
            "user-active-changed",
            "a user disabled",
            change(3, "user.active_changed", "User", "u-1", json!({"active": false})),
        ),
        ignored(
            "group-renamed",
            "a group renamed",
            change(4, "group.renamed", "Group", "g-1", json!({"oldDisplayName": "Sales", "displayName": "Sales EU"})),
        ),
        ignored("group-deleted", "a group deleted", change(5, "group.deleted", "Group", "g-1", Value::Null)),
        ignored("members-added", "members added", change(6, "group.members_added", "Group", "g-1", members.clone())),
        ignored("members-removed", "members removed", change(7, "group.members_removed", "Group", "g-1", members)),
        ignored("resync-started", "a resync starting", change(0, "resync.started", "", "", Value::Null)),
        ignored("resync-finished", "a resync finished", change(0, "resync.finished", "", "", Value::Null)),
    ];
    let op = json!({"delete-user": "u-1"});
    let request = json!({"method": "POST", "url": "https://lms.example.com/scim-hook",
        "headers": {"Idempotency-Key": "op-1", "Authorization": "Bearer test-token"},
        "body_json": {"action": "delete-user", "id": "u-1"}});
    for (file, what, respond, outcome) in [
        ("deliver-2xx", "a 204 is done", json!({"status": 204}), json!({"done": []})),
        (
            "deliver-429-retry-after",
            "429 with Retry-After: 30 retries after 30 s",
            json!({"status": 429, "headers": {"Retry-After": "30"}, "body": "slow down"}),
            json!({"retry": {"after-secs": 30, "reason": "HTTP 429: slow down"}}),
        ),
        (
            "deliver-400",
            "a 400 fails the operation",
            json!({"status": 400, "body": "no such user"}),
            json!({"failed": "HTTP 400: no such user"}),
        ),
    ] {
        out.push((
            format!("fixtures/{file}.json"),
            json!({
                "description": format!("deliver: {what}"), "config": config,
                "allowed_hosts": ["https://lms.example.com"], "credentials": {"api-token": "test-token"},
                "deliver": {"op_id": "op-1", "op": op}, "http": [{"expect": request, "respond": respond}],
                "expect_outcome": outcome,
            }),
        ));
    }
    out
}

/// Writes a new Rust plugin project `name` into `dir/name`; refuses an existing folder.
pub fn new_rust(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let root = project_dir(name, dir)?;
    let core = name.replace('-', "_");
    let mut files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), manifest(name)),
        ("README.md".into(), readme(name, &core)),
        (".gitignore".into(), "/target\n".into()),
        ("sdk/Cargo.toml".into(), SDK_MANIFEST.into()),
        ("src/lib.rs".into(), TEMPLATE.replace("Template", "MyPlugin")),
    ];
    files.extend(SDK.iter().map(|(p, c)| ((*p).to_owned(), (*c).to_owned())));
    files.extend(TEMPLATE_FIXTURES.iter().map(|(p, c)| ((*p).to_owned(), (*c).to_owned())));
    for (p, v) in generated_fixtures() {
        files.push((p, serde_json::to_string_pretty(&v)? + "\n"));
    }
    for (path, content) in files {
        write(&root, &path, &content)?;
    }
    Ok(root)
}

/// `dir/name`, checked: a valid package name, a folder that does not exist yet.
fn project_dir(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        anyhow::bail!("plugin name {name:?}: 1-64 of a-z 0-9 - _, starting with a letter (it names the package)");
    }
    let root = dir.join(name);
    if root.exists() {
        anyhow::bail!("{} exists already: pick another name or folder", root.display());
    }
    Ok(root)
}

fn write(root: &Path, path: &str, content: &str) -> anyhow::Result<()> {
    let path = root.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, content).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// The JavaScript template (`plugins/js/template`), file by file.
const JS_TEMPLATE: [(&str, &str); 32] = [
    ("README.md", include_str!("../../../plugins/js/template/README.md")),
    (
        "fixtures/config-missing-base-url.json",
        include_str!("../../../plugins/js/template/fixtures/config-missing-base-url.json"),
    ),
    (
        "fixtures/config-unknown-field.json",
        include_str!("../../../plugins/js/template/fixtures/config-unknown-field.json"),
    ),
    ("fixtures/config-wrong-type.json", include_str!("../../../plugins/js/template/fixtures/config-wrong-type.json")),
    ("fixtures/group-ignored.json", include_str!("../../../plugins/js/template/fixtures/group-ignored.json")),
    (
        "fixtures/resync-started-ignored.json",
        include_str!("../../../plugins/js/template/fixtures/resync-started-ignored.json"),
    ),
    (
        "fixtures/user-deactivated-ignored.json",
        include_str!("../../../plugins/js/template/fixtures/user-deactivated-ignored.json"),
    ),
    ("fixtures/user-deleted.json", include_str!("../../../plugins/js/template/fixtures/user-deleted.json")),
    (
        "fixtures/user-upserted-first-email.json",
        include_str!("../../../plugins/js/template/fixtures/user-upserted-first-email.json"),
    ),
    ("fixtures/user-upserted.json", include_str!("../../../plugins/js/template/fixtures/user-upserted.json")),
    ("jsconfig.json", include_str!("../../../plugins/js/template/jsconfig.json")),
    ("package-lock.json", include_str!("../../../plugins/js/template/package-lock.json")),
    ("package.json", include_str!("../../../plugins/js/template/package.json")),
    ("src/lib/config.js", include_str!("../../../plugins/js/template/src/lib/config.js")),
    ("src/lib/globals.d.ts", include_str!("../../../plugins/js/template/src/lib/globals.d.ts")),
    ("src/lib/http.js", include_str!("../../../plugins/js/template/src/lib/http.js")),
    ("src/lib/json.js", include_str!("../../../plugins/js/template/src/lib/json.js")),
    ("src/lib/sdk.js", include_str!("../../../plugins/js/template/src/lib/sdk.js")),
    ("src/plugin.js", include_str!("../../../plugins/js/template/src/plugin.js")),
    ("tools/api-version.mjs", include_str!("../../../plugins/js/template/tools/api-version.mjs")),
    ("tools/fix-types.mjs", include_str!("../../../plugins/js/template/tools/fix-types.mjs")),
    (
        "types/interfaces/scimgw-plugin-admin.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-admin.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-directory.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-directory.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-http.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-http.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-kv.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-kv.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-log.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-log.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-notify.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-notify.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-provisioning.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-provisioning.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-schedule.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-schedule.d.ts"),
    ),
    (
        "types/interfaces/scimgw-plugin-types.d.ts",
        include_str!("../../../plugins/js/template/types/interfaces/scimgw-plugin-types.d.ts"),
    ),
    ("types/plugin.d.ts", include_str!("../../../plugins/js/template/types/plugin.d.ts")),
    ("wit/plugin.wit", include_str!("../../../plugins/js/template/wit/plugin.wit")),
];

/// Writes a new JavaScript plugin project `name` into `dir/name`: the componentize-js template with the
/// contract's WIT, generated types, the kit (`src/lib/`) and fixtures. `npm install && npm run build`
/// builds `plugin.wasm`.
pub fn new_js(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let root = project_dir(name, dir)?;
    for (path, content) in JS_TEMPLATE {
        let content = if path == "package.json" || path == "package-lock.json" {
            content.replace("scimgw-js-plugin-template", name)
        } else {
            content.to_owned()
        };
        write(&root, path, &content)?;
    }
    write(&root, ".gitignore", "node_modules/\n*.wasm\n")?;
    Ok(root)
}
