//! The three reference rules files (RULES.md §0.2, §8, §11.1).

use std::collections::BTreeSet;
use std::path::PathBuf;

use kestrel_engine::rules::{Loader, Priority};

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference")
        .join(name)
}

const STABLE: &str = "falco_rules.yaml";
const INCUBATING: &str = "falco-incubating_rules.yaml";
const SANDBOX: &str = "falco-sandbox_rules.yaml";

fn load_alone(name: &str) -> Loader {
    let mut l = Loader::new();
    let r = l.load_file(&reference(name));
    for d in r.errors.iter().chain(&r.warnings) {
        eprintln!("{}", d.render_text());
    }
    assert!(r.errors.is_empty(), "{name}: errors");
    assert!(r.warnings.is_empty(), "{name}: warnings");
    assert!(l.check_plugin_requirements().is_empty());
    l
}

#[test]
fn each_file_loads_alone_cleanly_with_the_documented_counts() {
    for (name, rules, enabled, macros, lists) in [
        (STABLE, 25, 25, 87, 49),
        (INCUBATING, 31, 31, 82, 54),
        (SANDBOX, 37, 25, 183, 60),
    ] {
        let mut l = Loader::new();
        let r = l.load_file(&reference(name));
        for d in r.errors.iter().chain(&r.warnings) {
            eprintln!("{}", d.render_text());
        }
        assert!(r.errors.is_empty() && r.warnings.is_empty(), "{name}");
        assert_eq!(
            (r.counts.rules, r.counts.macros, r.counts.lists),
            (rules, macros, lists),
            "{name}"
        );
        assert_eq!(l.rules().len(), rules);
        assert_eq!(
            l.rules().iter().filter(|r| r.enabled).count(),
            enabled,
            "{name}"
        );
        assert_eq!(l.macros().len(), macros);
        assert_eq!(l.lists().len(), lists);
    }
}

/// RULES.md §8.2 / §8.3: file | rule | priority | enabled | event types.
const EVENT_TABLE: &str = "stable|Directory traversal monitored file read|WARNING|yes|open, openat, openat2
stable|Read sensitive file trusted after startup|WARNING|yes|open, openat, openat2
stable|Read sensitive file untrusted|WARNING|yes|open, openat, openat2
stable|Run shell untrusted|NOTICE|yes|execve, execveat
stable|System user interactive|INFO|yes|execve, execveat
stable|Terminal shell in container|NOTICE|yes|execve, execveat
stable|Contact K8S API Server From Container|NOTICE|yes|connect
stable|Netcat Remote Code Execution in Container|WARNING|yes|execve, execveat
stable|Search Private Keys or Passwords|WARNING|yes|execve, execveat
stable|Clear Log Activities|WARNING|yes|open, openat, openat2
stable|Remove Bulk Data from Disk|WARNING|yes|execve, execveat
stable|Create Symlink Over Sensitive Files|WARNING|yes|symlink, symlinkat
stable|Create Hardlink Over Sensitive Files|WARNING|yes|link, linkat
stable|Packet socket created in container|NOTICE|yes|socket
stable|Redirect STDOUT/STDIN to Network Connection in Container|NOTICE|yes|dup, dup2, dup3
stable|Linux Kernel Module Injection Detected|WARNING|yes|init_module, finit_module
stable|Debugfs Launched in Privileged Container|WARNING|yes|execve, execveat
stable|Detect release_agent File Container Escapes|CRITICAL|yes|open, openat, openat2
stable|PTRACE attached to process|WARNING|yes|ptrace
stable|PTRACE anti-debug attempt|NOTICE|yes|ptrace
stable|Find AWS Credentials|WARNING|yes|execve, execveat
stable|Execution from /dev/shm|WARNING|yes|execve, execveat
stable|Drop and execute new binary in container|CRITICAL|yes|execve, execveat
stable|Disallowed SSH Connection Non Standard Port|NOTICE|yes|connect, sendmsg, sendto
stable|Fileless execution via memfd_create|CRITICAL|yes|execve, execveat
incubating|Modify Shell Configuration File|WARNING|yes|open, openat, openat2
incubating|Schedule Cron Jobs|NOTICE|yes|execve, execveat, open, openat, openat2
incubating|Read ssh information|ERROR|yes|open, openat, openat2
incubating|DB program spawned process|NOTICE|yes|execve, execveat
incubating|Change thread namespace|NOTICE|yes|setns
incubating|Change namespace privileges via unshare|NOTICE|yes|unshare
incubating|Launch Privileged Container|INFO|yes|execve, execveat
incubating|Launch Excessively Capable Container|INFO|yes|execve, execveat
incubating|System procs network activity|NOTICE|yes|accept, accept4, connect, listen
incubating|Program run with disallowed http proxy env|NOTICE|yes|execve, execveat
incubating|Unexpected UDP Traffic|NOTICE|yes|accept, accept4, connect, listen
incubating|Non sudo setuid|NOTICE|yes|setuid
incubating|User mgmt binaries|NOTICE|yes|execve, execveat
incubating|Create files below dev|ERROR|yes|creat, open, openat, openat2
incubating|Contact EC2 Instance Metadata Service From Container|NOTICE|yes|connect, sendmsg, sendto
incubating|Contact cloud metadata service from container|NOTICE|yes|connect, sendmsg, sendto
incubating|Launch Package Management Process in Container|ERROR|yes|execve, execveat
incubating|Launch Suspicious Network Tool in Container|NOTICE|yes|execve, execveat
incubating|Launch Suspicious Network Tool on Host|NOTICE|yes|execve, execveat
incubating|Delete or rename shell history|WARNING|yes|open, openat, openat2, rename, renameat, renameat2, rmdir, unlink, unlinkat
incubating|Set Setuid or Setgid bit|NOTICE|yes|chmod, fchmod, fchmodat
incubating|Launch Remote File Copy Tools in Container|NOTICE|yes|execve, execveat
incubating|Network Connection outside Local Subnet|WARNING|yes|accept, accept4, connect, listen
incubating|Mount Launched in Privileged Container|WARNING|yes|execve, execveat
incubating|Launch Ingress Remote File Copy Tools in Container|NOTICE|yes|execve, execveat
incubating|Read environment variable from /proc files|WARNING|yes|open, openat, openat2
incubating|Exfiltrating Artifacts via Kubernetes Control Plane|NOTICE|yes|open, openat, openat2
incubating|Adding ssh keys to authorized_keys|WARNING|yes|open, openat, openat2
incubating|Potential Local Privilege Escalation via Environment Variables Misuse|NOTICE|yes|execve, execveat
incubating|Backdoored library loaded into SSHD (CVE-2024-3094)|WARNING|yes|open, openat, openat2
incubating|BPF Program Not Profiled|NOTICE|yes|bpf
sandbox|Unexpected inbound connection source|NOTICE|no|accept, accept4, listen, recvfrom, recvmsg
sandbox|Read Shell Configuration File|WARNING|no|open, openat, openat2
sandbox|Update Package Repository|NOTICE|yes|open, openat, openat2, rename, renameat, renameat2, rmdir, unlink, unlinkat
sandbox|Write below binary dir|ERROR|yes|open, openat, openat2
sandbox|Write below monitored dir|ERROR|yes|open, openat, openat2
sandbox|Write below etc|ERROR|yes|open, openat, openat2
sandbox|Write below root|ERROR|yes|open, openat, openat2
sandbox|Write below rpm database|ERROR|yes|open, openat, openat2
sandbox|Modify binary dirs|ERROR|yes|rename, renameat, renameat2, rmdir, unlink, unlinkat
sandbox|Mkdir binary dirs|ERROR|yes|mkdir, mkdirat
sandbox|Launch Sensitive Mount Container|INFO|yes|execve, execveat
sandbox|Launch Disallowed Container|WARNING|yes|execve, execveat
sandbox|Interpreted procs inbound network activity|NOTICE|no|accept, accept4, listen, recvfrom, recvmsg
sandbox|Interpreted procs outbound network activity|NOTICE|no|connect, sendmsg, sendto
sandbox|Unexpected K8s NodePort Connection|NOTICE|no|accept, accept4, connect, listen
sandbox|Create Hidden Files or Directories|NOTICE|no|mkdir, mkdirat, open, openat, openat2, rename, renameat, renameat2, rmdir, unlink, unlinkat
sandbox|Detect outbound connections to common miner pool ports|CRITICAL|no|connect, sendmsg, sendto
sandbox|Detect crypto miners using the Stratum protocol|CRITICAL|yes|execve, execveat
sandbox|Kubernetes Client Tool Launched in Container|WARNING|yes|execve, execveat
sandbox|Container Drift Detected (chmod)|ERROR|no|chmod, fchmod, fchmodat
sandbox|Container Drift Detected (open+create)|ERROR|no|creat, open, openat, openat2
sandbox|Container Run as Root User|INFO|no|execve, execveat
sandbox|Sudo Potential Privilege Escalation|CRITICAL|yes|execve, execveat
sandbox|Unprivileged Delegation of Page Faults Handling to a Userspace Process|CRITICAL|yes|userfaultfd
sandbox|Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)|CRITICAL|yes|execve, execveat
sandbox|Java Process Class File Download|CRITICAL|no|recvfrom
sandbox|Modify Container Entrypoint|WARNING|no|open, openat, openat2
sandbox|Decoding Payload in Container|INFO|yes|execve, execveat
sandbox|Basic Interactive Reconnaissance|NOTICE|yes|execve, execveat
sandbox|Netcat/Socat Remote Code Execution on Host|WARNING|yes|execve, execveat
sandbox|Network Tool Executed During NPM Package Install|WARNING|yes|execve, execveat
sandbox|Known Cryptominer Process Executed|CRITICAL|yes|execve, execveat
sandbox|Web Server Spawned Shell|CRITICAL|yes|execve, execveat
sandbox|Web Server Spawned Suspicious Child Process|WARNING|yes|execve, execveat
sandbox|Reverse Shell from Web Server|CRITICAL|yes|execve, execveat
sandbox|Privileged Container Device Access|CRITICAL|yes|open, openat, openat2
sandbox|Container Access to Host Sensitive Paths|WARNING|yes|open, openat, openat2";

fn file_of(kind: &str) -> &'static str {
    match kind {
        "stable" => STABLE,
        "incubating" => INCUBATING,
        _ => SANDBOX,
    }
}

#[test]
fn per_rule_priorities_enabled_flags_and_event_types() {
    let loaders: Vec<(&str, Loader)> = ["stable", "incubating", "sandbox"]
        .iter()
        .map(|k| (*k, load_alone(file_of(k))))
        .collect();
    let mut seen = 0;
    for row in EVENT_TABLE.lines() {
        let cells: Vec<&str> = row.split('|').collect();
        let [kind, name, prio, enabled, events] = cells[..] else {
            panic!("bad row {row}")
        };
        let l = &loaders.iter().find(|(k, _)| *k == kind).unwrap().1;
        let r = l
            .rules()
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{kind}: rule {name} missing"));
        assert_eq!(r.priority, Priority::parse(prio).unwrap(), "{name}");
        assert_eq!(r.enabled, enabled == "yes", "{name}");
        let want: BTreeSet<String> = events.split(", ").map(String::from).collect();
        assert_eq!(r.evttypes.as_ref(), Some(&want), "{name}");
        assert!(r.expanded_condition.len() >= r.condition_text.len() / 4);
        seen += 1;
    }
    assert_eq!(seen, 25 + 31 + 37);
    for (_, l) in &loaders {
        assert!(l.rules().iter().all(|r| r
            .tags
            .iter()
            .next()
            .is_some_and(|t| t.starts_with("maturity_"))
            || r.tags.iter().any(|t| t.starts_with("maturity_"))));
    }
}

#[test]
fn all_three_files_in_order_redefine_shared_lists() {
    let mut l = Loader::new();
    for f in [STABLE, INCUBATING, SANDBOX] {
        let r = l.load_file(&reference(f));
        for d in &r.errors {
            eprintln!("{}", d.render_text());
        }
        assert!(r.errors.is_empty(), "{f}");
    }
    assert!(l.check_plugin_requirements().is_empty());
    assert_eq!(l.rules().len(), 25 + 31 + 37);
    assert_eq!(l.rules().iter().filter(|r| r.enabled).count(), 25 + 31 + 25);
    let ppm = l
        .lists()
        .iter()
        .find(|x| x.name == "python_package_managers")
        .unwrap();
    assert!(!ppm.items.iter().any(|i| i == "uv"), "{:?}", ppm.items);
    // The stable rule using the list sees the redefinition.
    let mut alone = Loader::new();
    alone.load_file(&reference(STABLE));
    let uses = |l: &Loader| -> Vec<(String, bool)> {
        l.rules()
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                l.rule_details(*i)
                    .unwrap()
                    .lists
                    .contains("package_mgmt_binaries")
                    || l.rule_details(*i)
                        .unwrap()
                        .lists
                        .contains("python_package_managers")
            })
            .map(|(_, r)| (r.name.clone(), r.expanded_condition.contains(" uv")))
            .collect()
    };
    let before = uses(&alone);
    assert!(
        before.iter().any(|(_, has)| *has),
        "stable alone mentions uv: {before:?}"
    );
    let after = uses(&l);
    for (name, has) in &after {
        if before.iter().any(|(n, _)| n == name) {
            assert!(
                !has,
                "{name} still sees uv after the incubating redefinition"
            );
        }
    }
    // Rules stay in first-definition order: stable rules first.
    assert_eq!(l.rules()[0].name, alone.rules()[0].name);
}

/// Loading (reading, parsing and compiling three times) all three files.
/// Prints the time; `cargo test --release -- --nocapture load_time` gives
/// the figure quoted in reports. The bound only catches pathologies.
#[test]
fn load_time_of_all_three() {
    let texts: Vec<(String, String)> = [STABLE, INCUBATING, SANDBOX]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read_to_string(reference(f)).unwrap(),
            )
        })
        .collect();
    let mut best = std::time::Duration::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let mut l = Loader::new();
        for (n, c) in &texts {
            assert!(l.load_str(n, c).errors.is_empty());
        }
        best = best.min(t.elapsed());
        assert_eq!(l.rules().len(), 93);
    }
    eprintln!("loading stable + incubating + sandbox: {best:?}");
    assert!(best < std::time::Duration::from_secs(5));
}
