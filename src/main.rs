fn main() {
    std::process::exit(m365_photos::run());
}
