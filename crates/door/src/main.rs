#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    openlatch_door::cli::main()
}
