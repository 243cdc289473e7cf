//! Compiles every `bpf/*.bpf.c` into a BPF object in OUT_DIR with clang
//! (`-target bpf -O2 -g`, CO-RE). The objects are embedded in the crate with
//! `include_bytes!`.
//!
//! A missing tool is one clear line, not a wall of compiler errors.

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn fail(msg: &str) -> ! {
    eprintln!("kestrel-probe: {msg}");
    exit(1);
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bpf_dir = manifest.join("bpf");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-env-changed=KESTREL_CLANG");
    println!("cargo:rerun-if-env-changed=KESTREL_BPF_CFLAGS");

    let clang = std::env::var("KESTREL_CLANG").unwrap_or_else(|_| "clang".to_string());
    match Command::new(&clang).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => fail(&format!(
            "cannot run `{clang}` to build the eBPF probe: install clang and libbpf-dev \
             (apt-get install clang libbpf-dev, or run scripts/install-deps.sh)"
        )),
    }
    let include_dirs = system_include_dirs();
    if !include_dirs
        .iter()
        .any(|d| d.join("bpf/bpf_helpers.h").exists())
    {
        fail(
            "bpf/bpf_helpers.h not found: install libbpf-dev and linux-libc-dev \
             (apt-get install libbpf-dev linux-libc-dev, or run scripts/install-deps.sh)",
        );
    }

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&bpf_dir)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", bpf_dir.display())))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    // Headers and included hook files are inputs too.
    for entry in std::fs::read_dir(&bpf_dir).into_iter().flatten().flatten() {
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }

    for src in &sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".bpf.c"))
            .expect("*.bpf.c name");
        let obj = out.join(format!("{stem}.bpf.o"));
        compile(&clang, src, &obj, &bpf_dir, &include_dirs);
    }
}

/// Directories holding `linux/types.h` and `asm/types.h` for the host
/// architecture (the uapi headers from linux-libc-dev).
fn system_include_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/include")];
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    let d = PathBuf::from(format!("/usr/include/{multiarch}"));
    if d.exists() {
        dirs.push(d);
    }
    dirs
}

fn compile(clang: &str, src: &Path, obj: &Path, bpf_dir: &Path, include_dirs: &[PathBuf]) {
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => fail(&format!(
            "the probe does not support target architecture {other}"
        )),
        Err(_) => "x86",
    };
    let mut cmd = Command::new(clang);
    cmd.args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .args(
            std::env::var("KESTREL_BPF_CFLAGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(bpf_dir);
    for d in include_dirs {
        cmd.arg("-idirafter").arg(d);
    }
    cmd.arg("-c").arg(src).arg("-o").arg(obj);
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {clang}: {e}")));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!("clang failed to compile {}", src.display()));
    }
}
