//! The report as one self-contained HTML5 page (`gateway report html`): inline CSS, inline SVG charts and a
//! small inline script, no external resource of any kind, so it works offline and from a file. The pages
//! follow the Power BI template (`docs/spec/reporting.md` §4): High level, Learning paths, Modules,
//! Certifications, plus a Learners table (one row per report row, R3/R4).
//!
//! Every string from Entra or the datasets is HTML-escaped (text and attributes); only
//! `https://learn.microsoft.com/...` URLs (or site-relative ones, R7) become links. Detail tables are capped at
//! [`MAX_TABLE_ROWS`] rows each (the export has them all), so a tenant of 100,000 learners renders in well
//! under a second. Filters (department, product, role, name/UPN search) run client side on the rows shown;
//! the charts always show the whole tenant.
//!
//! Markup is written with `w!` into one `String` and every untrusted value goes through [`text::Esc`]: a
//! template engine would add a dependency and make byte-for-byte output (which the tests and the browser
//! check rely on) harder to keep, for a page this small.

use super::model::{Catalog, Report};

/// `write!` into a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

mod certifications;
mod frame;
mod high_level;
mod learners;
mod modules;
mod paths;
mod table;
#[cfg(test)]
mod tests;
mod text;

/// Rows shown per detail table (and in the Learners table).
pub const MAX_TABLE_ROWS: usize = 2_000;
/// Entries of the "most …" charts.
const TOP_N: usize = 10;
/// Products in the "completion by product" chart.
const MAX_PRODUCTS: usize = 15;

/// The page's style sheet; the page has a line break after `<style>`.
const CSS: &str = concat!("\n", include_str!("report.css"));
/// The page's script (tabs, filters, sorting); the page has a line break after `<script>`.
const SCRIPT: &str = concat!("\n", include_str!("report.js"));

/// The page's Content-Security-Policy as an HTTP header: [`page_policy`] and no framing.
pub fn content_security_policy() -> String {
    format!("{}; frame-ancestors 'none'", page_policy())
}

/// The policy the page also carries in a `<meta>` (for a saved copy): nothing loads from anywhere, the
/// one inline script runs by its hash (an injected `<script>` would not), styles inline, no form posts.
fn page_policy() -> &'static str {
    use base64::Engine as _;
    use sha2::Digest as _;
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes()));
        format!(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; img-src data:; \
             base-uri 'none'; form-action 'none'"
        )
    })
}

/// Renders the report as one HTML page.
pub fn render(report: &Report<'_>) -> String {
    let shown = report.rows.len().min(MAX_TABLE_ROWS);
    let mut out = String::with_capacity(64 * 1024 + shown * 2_400);
    let ctx = Ctx { report, cat: &report.snapshot.catalog, today: text::date_part(&report.snapshot.loaded_at) };
    frame::head(&mut out, report);
    out.push_str("<body><a class=\"skip\" href=\"#main\">Skip to content</a>");
    frame::header(&mut out, report);
    frame::nav(&mut out);
    frame::filters(&mut out, &ctx);
    out.push_str("<main id=\"main\">");
    high_level::high_level(&mut out, &ctx);
    paths::paths_tab(&mut out, &ctx);
    modules::modules_tab(&mut out, &ctx);
    certifications::certifications_tab(&mut out, &ctx);
    learners::learners_tab(&mut out, &ctx);
    out.push_str("</main>");
    frame::footer(&mut out, &ctx);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}

struct Ctx<'r, 'a> {
    report: &'r Report<'a>,
    cat: &'a Catalog,
    /// The snapshot's date: certifications that ended before it are expired (deterministic, no clock).
    today: Option<&'a str>,
}
