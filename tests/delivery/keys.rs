//! The credential key is checked against the fingerprint the database records: another key, or a lost
//! key file, stops the command with a message that says so, instead of a new key being generated and
//! every target parking with "wrong key" (as on 7914331).

use super::add_target;
use crate::common::Backend;
use crate::common::proc::{Sink, TestEnv, gateway_bin};

/// Runs the CLI with the test environment, minus the inline key, plus `extra`.
async fn cli_with(env: &TestEnv, extra: &[(&str, String)], args: &[&str]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(gateway_bin());
    cmd.env_clear()
        .envs(env.vars().into_iter().filter(|(k, _)| k != "GATEWAY_CREDENTIAL_KEY"))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .current_dir(&env.dir.path)
        .stdin(std::process::Stdio::null());
    let out = cmd.output().await.expect("gateway runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_credential_key_is_checked_against_the_database() {
    let Some(env) = TestEnv::new(Backend::Sqlite, "keys").await else { return };
    let (tenant, _) = env.create_tenant().await;
    env.add_plugin("webhook", "webhook").await;
    let sink = Sink::start();
    add_target(&env, &tenant, "hook", "webhook", &sink, Some("s3cret-value")).await;
    let list = ["target", "list", "--tenant", tenant.as_str()];

    // The key it was sealed with works.
    let (ok, err) = cli_with(&env, &[("GATEWAY_CREDENTIAL_KEY", env.key.clone())], &list).await;
    assert!(ok, "{err}");

    // Another key: refused, naming both fingerprints and never a key.
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned();
    let (ok, err) = cli_with(&env, &[("GATEWAY_CREDENTIAL_KEY", other.clone())], &list).await;
    assert!(!ok, "another key was accepted");
    assert!(err.contains("is not the key this database's credentials were sealed with"), "{err}");
    assert!(!err.contains(&other) && !err.contains(&env.key), "a key is shown: {err}");

    // A key file that does not exist (a second instance, another working directory): refused, and no new
    // key is written.
    let file = env.dir.path.join("elsewhere").join("gateway.key");
    let (ok, err) = cli_with(&env, &[("GATEWAY_CREDENTIAL_KEY_FILE", file.display().to_string())], &list).await;
    assert!(!ok, "a new key was generated");
    assert!(err.contains("does not exist") && err.contains("restore that key file"), "{err}");
    assert!(!file.exists(), "a key file was created");
}
