//! `zis-operator`: the operator binary (skeleton; filled by the operator work).

fn main() {
    eprintln!("zis-operator: not implemented yet");
    std::process::exit(2);
}
