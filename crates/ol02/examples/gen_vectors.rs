//! Regenerates `crates/ol02/tests/vectors/` deterministically:
//! `cargo run -p ol02 --example gen_vectors --features std`.

#[path = "../tests/vector_gen/mod.rs"]
mod vector_gen;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in vector_gen::generate() {
        std::fs::write(dir.join(&name), &bytes)?;
        println!("{name}: {} bytes", bytes.len());
    }
    Ok(())
}
