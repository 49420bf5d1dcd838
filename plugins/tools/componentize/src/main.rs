//! `componentize CORE.wasm OUT.wasm [CORE.wasm OUT.wasm ...]`: turns core wasm modules built with
//! wit-bindgen (which embed their WIT world in a `component-type` custom section) into components,
//! validating the result. Each output is written to a temporary file and renamed into place.
//!
//! `componentize --print-wit COMPONENT.wasm`: prints the WIT world a component imports and exports
//! (what `wasm-tools component wit` shows).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use wit_component::{ComponentEncoder, DecodedWasm, WitPrinter};

const USAGE: &str =
    "usage: componentize CORE.wasm OUT.wasm [CORE.wasm OUT.wasm ...]\n       componentize --print-wit COMPONENT.wasm";

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).map(PathBuf::from).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("componentize: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<PathBuf>) -> Result<()> {
    match args.first().and_then(|a| a.to_str()) {
        Some("--print-wit") => {
            let [_, file] = args.as_slice() else { bail!("{USAGE}") };
            print!("{}", component_wit(file)?);
            Ok(())
        }
        Some("-h" | "--help") | None => bail!("{USAGE}"),
        Some(_) => {
            if !args.len().is_multiple_of(2) {
                bail!("{USAGE}");
            }
            for pair in args.chunks(2) {
                componentize(&pair[0], &pair[1])?;
            }
            Ok(())
        }
    }
}

fn componentize(core: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    let component = ComponentEncoder::default()
        .module(&bytes)
        .with_context(|| format!("{}: not a core module with a component-type section", core.display()))?
        .validate(true)
        .encode()
        .with_context(|| format!("componentizing {}", core.display()))?;
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &component).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
    Ok(())
}

fn component_wit(file: &Path) -> Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let decoded = wit_component::decode(&bytes).with_context(|| format!("decoding {}", file.display()))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        bail!("{} is a WIT package, not a component", file.display());
    };
    let main = resolve.worlds[world].package.context("the component's world has no package")?;
    let nested: Vec<_> = resolve.packages.iter().map(|(id, _)| id).filter(|id| *id != main).collect();
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer.print(&resolve, main, &nested)?;
    Ok(printer.output.to_string())
}
