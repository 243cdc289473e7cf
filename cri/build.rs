//! Generates the gRPC clients from the .proto files with protoc (Debian's
//! `protobuf-compiler`; scripts/install-deps.sh installs it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/runtime.proto",
        "proto/containerd.proto",
        "proto/containers.proto",
        "proto/namespaces.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    if std::env::var_os("PROTOC").is_none() && which("protoc").is_none() {
        return Err("protoc not found: install Debian's protobuf-compiler \
                    (scripts/install-deps.sh does) or set PROTOC"
            .into());
    }
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
