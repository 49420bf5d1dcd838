//! How `gateway plugin test` shows fixture results: a line per fixture with each budget as a share of
//! its limit (marked `!` from 50 %), then, under a failing fixture, its differences (JSON pointers); under
//! every fixture its log lines, the ones the gateway would drop flagged.

use crate::plugins::fixtures::FixtureResult;

fn pct(v: f64) -> String {
    let mark = if v >= 100.0 {
        "!!"
    } else if v >= 50.0 {
        "!"
    } else {
        ""
    };
    format!("{v:.1}%{mark}")
}

pub fn print_table(results: &[FixtureResult]) {
    println!(
        "{:<44} {:>7} {:>12} {:>8} {:>9} {:>8} {:>9} {:>7}",
        "fixture", "result", "fuel", "of limit", "peak KiB", "of limit", "time µs", "of max"
    );
    for r in results {
        let result = if r.updated {
            "UPDATED"
        } else if r.passed {
            "ok"
        } else {
            "FAIL"
        };
        println!(
            "{:<44} {:>7} {:>12} {:>8} {:>9} {:>8} {:>9} {:>7}",
            r.name,
            result,
            r.stats.fuel,
            pct(r.budgets.fuel_pct),
            r.stats.peak_memory_bytes / 1024,
            pct(r.budgets.memory_pct),
            r.stats.micros,
            pct(r.budgets.time_pct)
        );
        if !r.passed && !r.updated {
            for line in r.message.lines() {
                println!("    {line}");
            }
        }
        for l in &r.logs {
            let flag = if l.dropped { "  (dropped in production: over 50 lines or 1 KiB)" } else { "" };
            println!("    log {:<5} {}{flag}", l.level, l.message);
        }
    }
}
