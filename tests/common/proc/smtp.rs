//! A real SMTP server for the tests that e-mail: aiosmtpd (PyPI) with its debugging handler, which
//! prints every message it receives to a file. `scripts/test.sh` installs it in a venv and names its
//! Python in `SCIMGW_SMTP_PYTHON`; without it the e-mail checks are skipped (`REQUIRE_SMTP` makes that
//! a failure).

use super::{free_port, poll};
use std::time::Duration;

pub struct SmtpSink {
    child: std::process::Child,
    out: std::path::PathBuf,
    pub port: u16,
}

impl SmtpSink {
    /// Starts the server on a free port, logging into `dir`, and waits until it listens; None when
    /// no Python with aiosmtpd is named.
    pub async fn start(dir: &std::path::Path) -> Option<SmtpSink> {
        let python = match std::env::var("SCIMGW_SMTP_PYTHON") {
            Ok(p) => p,
            Err(_) if std::env::var_os("REQUIRE_SMTP").is_some() => {
                panic!("REQUIRE_SMTP is set but SCIMGW_SMTP_PYTHON is not")
            }
            Err(_) => {
                eprintln!("skipping the e-mail checks: SCIMGW_SMTP_PYTHON (a Python with aiosmtpd) is not set");
                return None;
            }
        };
        std::fs::create_dir_all(dir).expect("smtp dir");
        let port = free_port();
        let out = dir.join("smtp.out");
        let file = std::fs::File::create(&out).expect("smtp log");
        let child = std::process::Command::new(python)
            .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Debugging"])
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("aiosmtpd starts");
        let sink = SmtpSink { child, out, port };
        poll("the SMTP server to listen", Duration::from_secs(20), Duration::from_millis(100), async || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sink.text()));
        Some(sink)
    }

    /// `smtp://127.0.0.1:<port>`, for `GATEWAY_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// What it received, quoted-printable soft line breaks and folded header lines joined.
    pub fn text(&self) -> String {
        let raw = std::fs::read_to_string(&self.out).unwrap_or_default().replace("\r\n", "\n");
        raw.replace("=\n", "").replace("\n ", " ")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
