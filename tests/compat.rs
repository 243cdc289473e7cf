//! COMPATIBILITY.md is `kestrel compat --markdown`, generated from the code.
//! When they differ this test fails; `KESTREL_UPDATE_COMPAT=1 cargo test
//! --test compat` writes the generated text to the file instead.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn compatibility_md_is_generated_from_the_code() {
    let o = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["compat", "--markdown"])
        .output()
        .expect("run kestrel compat");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let generated = String::from_utf8(o.stdout).expect("UTF-8");
    // The generator's tables are not empty and name what the issue asks.
    for needle in [
        "| `-V`, `--validate` | yes |",
        "| `falcosecurity_scap_n_evts_total` | yes |",
        "| `evt.type` | yes |",
        "| `execve` | syscall | captured |",
        "| `metrics` | yes |",
        "## Configuration keys",
    ] {
        assert!(generated.contains(needle), "missing {needle:?}");
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("COMPATIBILITY.md");
    if std::env::var_os("KESTREL_UPDATE_COMPAT").is_some() {
        std::fs::write(&path, &generated).expect("write COMPATIBILITY.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "COMPATIBILITY.md differs from `kestrel compat --markdown` from line {}: \
             regenerate it with KESTREL_UPDATE_COMPAT=1 cargo test --test compat",
            line + 1
        );
    }
}
