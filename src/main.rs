// glibc's per-thread arenas kept the face detector's and decoder's freed buffers: a
// 2,000-user rehearsal peaked at 180 MB (78 MB with jemalloc), and a long run crept up.
// jemalloc returns freed pages on a timer (README "Speed", memory). In the static musl build
// it replaces musl's malloc, which made photo processing a third slower. The library leaves
// the choice to whoever links it.
#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(m365_photos::run());
}
